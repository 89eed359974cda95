/**
 * GPTQ (Frantar et al. 2022): quantize a linear layer's weights column by column, after each column moving
 * the rounding error onto the columns not yet quantized in the way that minimises the layer's output error on
 * the calibration inputs, ‖W·X − Q·X‖², through the inverse Hessian H⁻¹ of H = 2·XᵀX / n.
 *
 * As GPTQModel's quantizer: dampening λ = percdamp · mean(diag H) added to the diagonal (raised step by step
 * while the Cholesky factorisation fails); dead columns (H_ii = 0: the input is always zero) get H_ii = 1 and
 * zero weights; the upper Cholesky factor U of H⁻¹ drives the updates, err = (w − q) / U_ii,
 * W[:, j] −= err · U_ij; "lazy batches" of columns apply the updates to later columns in one product per batch;
 * act-order (desc_act) processes columns in order of decreasing H_ii, with groups formed in that order (their
 * g_idx stored) or, with static groups, fixed before the pass on the natural column order.
 *
 * Differences from GPTQModel: H, U and the working weights are float64 (a batch's update of the later columns
 * multiplies float32-rounded U entries and errors, summed in float64, in the kernels' GEMM); a group's
 * parameters are computed from the group's current values including the updates from earlier columns of the
 * same batch (GPTQModel reads them from a copy without those updates when the group starts mid-batch; here
 * batches are cut at group starts, so lazy batching is the unbatched algorithm up to the rounding of those
 * products); act-order sorts stably (equal H_ii keep column order).
 *
 * The rounding function may also be a ggml codec (the GGUF block types): at the start of each codec block the
 * block's current values are quantized by the codec (with diag H as its importance weights, as llama.cpp's
 * imatrix), and the block's columns are then fixed to those values one by one, each column's error moved
 * onto the columns after it. So Q4_0/Q4_K/IQ4_NL output gets GPTQ's error compensation across blocks.
 */
import { BitsmithError } from "../core/index.js";
import type { Codec } from "../codecs/index.js";
import { defaultKernels } from "../kernels/index.js";
import type { Kernels } from "../kernels/index.js";
import type { QuantizedLinear } from "../formats/quantized-hf/index.js";
import { groupParams, quantizeCode } from "./integer-scheme.js";
import type { GroupParams, IntegerScheme } from "./integer-scheme.js";
import { collectOutliers, fp16Value } from "./outliers.js";
import { formatGroupColumns } from "./weight-format.js";
import type { QuantizedWeights, WeightFormat } from "./weight-format.js";

export interface GptqOptions {
  readonly format: WeightFormat;
  /** Dampening as a fraction of the mean Hessian diagonal (default 0.01, the paper's and llm-compressor's). */
  readonly dampPercent?: number;
  /** Added to dampPercent each time the factorisation fails (default 0.0025, GPTQModel's). */
  readonly dampAutoIncrement?: number;
  /** Columns per lazy batch (default 128). */
  readonly blockSize?: number;
  /** Process columns by decreasing Hessian diagonal (desc_act). Integer groups only. */
  readonly actOrder?: boolean;
  /** With actOrder: group parameters fixed up front on the natural column order. */
  readonly staticGroups?: boolean;
  /** [rows × cols], 1 = keep this weight in fp16 (outlier-aware mixed precision). Integer groups only. */
  readonly outlierMask?: Uint8Array;
  /** Kernels for the inverse-Hessian factor and the lazy batch updates (default: the single-threaded defaults). */
  readonly kernels?: Kernels;
}

export interface GptqResult {
  readonly weights: QuantizedWeights;
  /** The dequantized weights [rows × cols]: what the model computes with. */
  readonly values: Float32Array;
  /** Σ (w − q)² / (2·U_ii²): GPTQ's estimate of the added output error. */
  readonly loss: number;
  /** The dampening fraction that made H positive definite. */
  readonly damp: number;
  readonly deadColumns: number;
}

/** Stable order of column indices by decreasing value. */
function descendingOrder(values: Float64Array): Int32Array {
  return Int32Array.from(Array.from(values.keys()).sort((a, b) => values[b]! - values[a]! || a - b));
}

/** Damps H (a copy) and returns U with Uᵀ·U = (H + λI)⁻¹, raising λ until H + λI is positive definite. */
function inverseFactor(h: Float64Array, n: number, dampPercent: number, increment: number, name: string, kernels: Kernels): { u: Float64Array; damp: number } {
  let mean = 0;
  for (let i = 0; i < n; i++) mean += h[i * n + i]!;
  mean /= n;
  for (let damp = dampPercent; damp > 0 && damp < 1; damp += increment) {
    const u = Float64Array.from(h);
    for (let i = 0; i < n; i++) u[i * n + i] = u[i * n + i]! + damp * mean;
    if (kernels.upperCholeskyOfInverse(u, n)) return { u, damp };
    if (increment <= 0) break;
  }
  throw new BitsmithError(`the Hessian is not positive definite even with dampening up to 1 (percdamp ${dampPercent}): use more calibration samples`, { field: name });
}

/** Columns per lazy batch such that every group that starts inside a batch also ends inside it. */
function batchColumns(requested: number, group: number, cols: number, fixedGroups: boolean): number {
  if (fixedGroups || group >= cols) return requested;
  return group <= requested ? group * Math.floor(requested / group) : group;
}

/**
 * Quantizes w [rows × cols] (row-major, PyTorch's [out][in]) with the Hessian `hessian` [cols × cols] of its
 * inputs. `name` labels errors.
 */
export function gptqQuantize(name: string, w: Float32Array, rows: number, cols: number, hessian: Float64Array, options: GptqOptions): GptqResult {
  const { format } = options;
  if (hessian.length !== cols * cols) throw new BitsmithError(`Hessian has ${hessian.length} entries for ${cols} input columns`, { field: name });
  if (w.length !== rows * cols) throw new BitsmithError(`weight has ${w.length} values, [${rows}, ${cols}] needs ${rows * cols}`, { field: name });
  const group = formatGroupColumns(format, cols, name);
  const actOrder = options.actOrder ?? false;
  const staticGroups = (options.staticGroups ?? false) && format.kind === "integer" && group < cols;
  const mask = options.outlierMask;
  if (format.kind === "codec" && (actOrder || mask)) {
    throw new BitsmithError(`${actOrder ? "act-order" : "outliers"} needs integer groups; ggml blocks are fixed runs of columns`, { field: name });
  }

  const h = Float64Array.from(hessian);
  // Transposed working copy: wt[c][r] is column c, contiguous, as the column loop reads and updates columns.
  const wt = new Float64Array(cols * rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) wt[c * rows + r] = w[r * cols + c]!;
  const importance = new Float32Array(cols);
  let deadColumns = 0;
  for (let c = 0; c < cols; c++) {
    importance[c] = h[c * cols + c]!;
    if (h[c * cols + c] === 0) {
      h[c * cols + c] = 1;
      wt.fill(0, c * rows, (c + 1) * rows);
      deadColumns++;
    }
  }

  // Static groups: parameters of the natural groups, from the weights before any update.
  const maxq = format.kind === "integer" ? (1 << format.scheme.bits) - 1 : 0;
  const nGroups = cols / group;
  const staticParams: GroupParams[] = [];
  if (staticGroups && format.kind === "integer") {
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < nGroups; g++) {
        staticParams[r * nGroups + g] = groupParams((i) => wt[(g * group + i) * rows + r]!, group, format.scheme, mask && ((i) => mask[r * cols + g * group + i] === 1));
      }
    }
  }

  // Act-order: permute columns (rows of wt) and H symmetrically.
  let perm: Int32Array | undefined;
  let work = wt;
  let hp = h;
  if (actOrder) {
    const diag = new Float64Array(cols);
    for (let c = 0; c < cols; c++) diag[c] = h[c * cols + c]!;
    perm = descendingOrder(diag);
    work = new Float64Array(cols * rows);
    hp = new Float64Array(cols * cols);
    for (let i = 0; i < cols; i++) {
      const pi = perm[i]!;
      work.set(wt.subarray(pi * rows, (pi + 1) * rows), i * rows);
      for (let j = 0; j < cols; j++) hp[i * cols + j] = h[pi * cols + perm[j]!]!;
    }
  }
  const col = (i: number) => (perm ? perm[i]! : i);

  const kernels = options.kernels ?? defaultKernels();
  const { u, damp } = inverseFactor(hp, cols, options.dampPercent ?? 0.01, options.dampAutoIncrement ?? 0.0025, name, kernels);

  const values = new Float32Array(rows * cols);
  const codes = format.kind === "integer" ? new Uint8Array(rows * cols) : undefined;
  const scales = format.kind === "integer" ? new Float32Array(rows * nGroups) : undefined;
  const zeros = format.kind === "integer" && !format.scheme.symmetric ? new Uint8Array(rows * nGroups) : undefined;
  const gIdx = new Int32Array(cols);
  const codec = format.kind === "codec" ? format.codec : undefined;
  const codecBytes = codec ? new Uint8Array((rows * cols / codec.type.blockSize) * codec.type.typeSize) : undefined;
  const rowBytes = codec ? (cols / codec.type.blockSize) * codec.type.typeSize : 0;

  const batch = batchColumns(options.blockSize ?? 128, group, cols, staticGroups);
  const err = new Float64Array(batch * rows);
  const q = new Float64Array(rows);
  // The lazy update W[:, i2:] −= Err · U[i1:i2, i2:] as the kernels' C = A·Bᵀ: A = U[i1:i2, i2:]ᵀ, B = Errᵀ.
  const uBlock = kernels.allocate(Math.max(0, cols - batch) * batch);
  const errT = kernels.allocate(rows * batch);
  const update = kernels.allocate(Math.max(0, cols - batch) * rows);
  let params: GroupParams[] = [];
  let codecBlock: Float32Array | undefined;
  let loss = 0;

  for (let i1 = 0; i1 < cols; i1 += batch) {
    const i2 = Math.min(i1 + batch, cols);
    for (let i = i1; i < i2; i++) {
      const wi = i * rows;
      const c = col(i);
      const g = Math.floor(i / group);
      if (i % group === 0) {
        if (format.kind === "integer" && !staticGroups) {
          params = [];
          for (let r = 0; r < rows; r++) {
            const p = groupParams((k) => work[(i + k) * rows + r]!, group, format.scheme, mask && ((k) => mask[r * cols + col(i + k)] === 1));
            params.push(p);
            scales![r * nGroups + g] = p.scale;
            if (zeros) zeros[r * nGroups + g] = p.zero;
          }
        } else if (codec) {
          codecBlock = quantizeCodecBlock(codec, work, rows, i, group, importance.subarray(i, i + group), codecBytes!, rowBytes);
        }
      }
      gIdx[c] = g;
      for (let r = 0; r < rows; r++) {
        const x = work[wi + r]!;
        let v: number;
        if (mask && mask[r * cols + c]) {
          v = fp16Value(x);
          if (codes) codes[r * cols + c] = staticGroups ? staticParams[r * nGroups + Math.floor(c / group)]!.zero : params[r]!.zero;
        } else if (format.kind === "integer") {
          const p = staticGroups ? staticParams[r * nGroups + Math.floor(c / group)]! : params[r]!;
          const code = quantizeCode(x, p, maxq);
          codes![r * cols + c] = code;
          v = (code - p.zero) * p.scale;
        } else {
          v = codecBlock![r * group + (i % group)]!;
        }
        q[r] = v;
        values[r * cols + c] = v;
      }
      const d = u[i * cols + i]!;
      const e = (i - i1) * rows;
      for (let r = 0; r < rows; r++) {
        const diff = work[wi + r]! - q[r]!;
        loss += (diff * diff) / (d * d) / 2;
        err[e + r] = diff / d;
      }
      // Within the batch: W[:, j] −= err · U[i][j] for the batch's later columns.
      for (let j = i + 1; j < i2; j++) {
        const f = u[i * cols + j]!;
        if (f === 0) continue;
        const wj = j * rows;
        for (let r = 0; r < rows; r++) work[wj + r] = work[wj + r]! - f * err[e + r]!;
      }
    }
    // The batch's errors onto every later column at once.
    if (i2 < cols) {
      const depth = i2 - i1;
      const later = cols - i2;
      for (let j = 0; j < later; j++) for (let k = 0; k < depth; k++) uBlock[j * depth + k] = u[(i1 + k) * cols + i2 + j]!;
      for (let r = 0; r < rows; r++) for (let k = 0; k < depth; k++) errT[r * depth + k] = err[k * rows + r]!;
      kernels.gemmNT(later, rows, depth, uBlock, 0, depth, errT, 0, depth, update, 0, rows, { accumulation: "float64" });
      const base = i2 * rows;
      for (let i = 0; i < later * rows; i++) work[base + i] = work[base + i]! - update[i]!;
    }
  }
  for (const b of [uBlock, errT, update]) kernels.release(b);

  let weights: QuantizedWeights;
  if (format.kind === "integer") {
    const { scheme } = format;
    // Static groups keep natural group numbers, so only act-order without them stores a non-trivial g_idx.
    const ordered = actOrder && !staticGroups && group < cols;
    if (staticGroups) for (let r = 0; r < rows; r++) for (let g = 0; g < nGroups; g++) {
      const p = staticParams[r * nGroups + g]!;
      scales![r * nGroups + g] = p.scale;
      if (zeros) zeros[r * nGroups + g] = p.zero;
    }
    const linear: QuantizedLinear = {
      name,
      outFeatures: rows,
      inFeatures: cols,
      bits: scheme.bits,
      groupSize: scheme.groupSize === -1 ? -1 : group,
      symmetric: scheme.symmetric,
      codes: codes!,
      scales: scales!,
      zeros,
      gIdx: ordered ? gIdx : undefined,
    };
    weights = { kind: "integer", linear, outliers: mask ? collectOutliers(mask, values) : undefined };
  } else {
    weights = { kind: "codec", typeName: codec!.type.name, bytes: codecBytes! };
  }
  return { weights, values, loss, damp, deadColumns };
}

/**
 * Quantizes columns [c0, c0 + width) of every row (taken from the transposed working weights) with the codec,
 * stores the block bytes in each row's place of `out`, and returns the decoded block [rows × width].
 */
function quantizeCodecBlock(
  codec: Codec,
  work: Float64Array,
  rows: number,
  c0: number,
  width: number,
  importance: Float32Array,
  out: Uint8Array,
  rowBytes: number,
): Float32Array {
  const block = new Float32Array(rows * width);
  for (let k = 0; k < width; k++) {
    const src = (c0 + k) * rows;
    for (let r = 0; r < rows; r++) block[r * width + k] = work[src + r]!;
  }
  // Importance weights must be positive where a codec uses them; a block of dead columns has none.
  const useImportance = codec.requiresImatrix || importance.some((v) => v > 0);
  const bytes = codec.quantize(block, rows, width, useImportance ? importance : undefined);
  const blockBytes = bytes.length / rows;
  const at = (c0 / codec.type.blockSize) * codec.type.typeSize;
  for (let r = 0; r < rows; r++) out.set(bytes.subarray(r * blockBytes, (r + 1) * blockBytes), r * rowBytes + at);
  return codec.dequantize(bytes, rows * width);
}
