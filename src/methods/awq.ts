/**
 * AWQ (Lin et al. 2023), as llm-compressor's AWQModifier and AutoAWQ do it: for each group of linear layers
 * sharing an input ("balance layers": q/k/v after the attention norm, gate/up after the MLP norm, o after v,
 * down after up), scale input channel c by s_c, with s = s_x^α / s_w^(1−α) (s_x: mean |x| of the channel over
 * the calibration tokens; s_w: mean over output rows of |w| relative to its group's max, "duo scaling"),
 * normalised by sqrt(max(s)·min(s)), for α on a grid of 20 points in [0, 1); keep the α whose quantized
 * weights Q(W·diag(s))·diag(s)⁻¹ give the smallest error of a chosen output on the calibration data; fold
 * 1/s into the layer before (the norm's weight, or the rows of v / up). Then, per layer except q and k
 * (AutoAWQ's rule: their outputs meet in a softmax, where clipping hurts), search a clipping range per output
 * row and group: max|w| shrunk by 0 to 45% in 5% steps, minimising the group's output error on up to 512
 * sampled tokens; clamp to the best range. The result is then rounded to nearest.
 *
 * The loss is supplied by the caller (the sequential pipeline measures the transformer block's output; see
 * src/methods/pipeline). With a ggml codec as the rounding function, groups are the codec's 32-column
 * scale blocks and importance weights E[x²]/s² are handed to the codec.
 */
import { BitsmithError } from "../core/index.js";
import { defaultKernels } from "../kernels/index.js";
import type { Kernels } from "../kernels/index.js";
import { rtnQuantize } from "./rtn.js";
import { formatGroupColumns } from "./weight-format.js";
import type { WeightFormat } from "./weight-format.js";

/** α grid points (llm-compressor's and AutoAWQ's n_grid). */
export const AWQ_GRID = 20;
/** Clip search: shrink steps of 1/20 of the range, up to half of it (AutoAWQ's auto_clip). */
const CLIP_GRID = 20;
const CLIP_MAX_SHRINK = 0.5;
/** Tokens the clip search evaluates (AutoAWQ's n_sample_token). */
export const AWQ_CLIP_TOKENS = 512;

/** Columns per group for AWQ's weight normalisation and clipping: the integer group, or 32 for ggml codecs. */
export function awqGroupColumns(format: WeightFormat, cols: number): number {
  const g = formatGroupColumns(format, cols);
  return format.kind === "codec" && g % 32 === 0 ? 32 : g;
}

/** A linear layer [rows × cols], row-major. */
export interface AwqLayer {
  readonly name: string;
  readonly w: Float32Array;
  readonly rows: number;
}

/** s_w: per input column, the mean over all rows of all layers of |w| / (max |w| of its group + 1e-6). */
export function weightMagnitudes(layers: readonly AwqLayer[], cols: number, group: number): Float64Array {
  const sum = new Float64Array(cols);
  let rows = 0;
  for (const { w, rows: n } of layers) {
    for (let r = 0; r < n; r++) {
      for (let g0 = 0; g0 < cols; g0 += group) {
        const o = r * cols + g0;
        let max = 0;
        for (let i = 0; i < group; i++) max = Math.max(max, Math.abs(w[o + i]!));
        const inv = 1 / (max + 1e-6);
        for (let i = 0; i < group; i++) sum[g0 + i] = sum[g0 + i]! + Math.abs(w[o + i]!) * inv;
      }
    }
    rows += n;
  }
  return sum.map((s) => s / rows);
}

/** The candidate scales for α = `ratio` (duo scaling when wMean is given). */
export function awqScales(xMean: Float64Array, wMean: Float64Array | undefined, ratio: number): Float64Array {
  const n = xMean.length;
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = wMean ? xMean[i]! ** ratio / (wMean[i]! ** (1 - ratio) + 1e-4) : xMean[i]! ** ratio;
    s[i] = Math.max(v, 1e-4);
  }
  let max = 0;
  let min = Infinity;
  for (const v of s) {
    max = Math.max(max, v);
    min = Math.min(min, v);
  }
  const norm = Math.sqrt(max * min);
  for (let i = 0; i < n; i++) {
    const v = s[i]! / norm;
    s[i] = Number.isFinite(v) ? v : 1;
  }
  return s;
}

/** Q(W·diag(s))·diag(s)⁻¹: the weights the layer computes with when its inputs are scaled by 1/s. */
export function quantizeScaled(layer: AwqLayer, cols: number, s: Float64Array, format: WeightFormat, importance?: Float64Array): Float32Array {
  const { w, rows } = layer;
  const scaled = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) scaled[r * cols + c] = w[r * cols + c]! * s[c]!;
  const imp = importance && Float32Array.from(importance, (v, c) => v / (s[c]! * s[c]!));
  const q = rtnQuantize(layer.name, scaled, rows, cols, format, imp).values;
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) q[r * cols + c] = q[r * cols + c]! / s[c]!;
  return q;
}

export interface AwqScaleSearch {
  /** The balance layers, sharing one input of `cols` channels. */
  readonly layers: readonly AwqLayer[];
  readonly cols: number;
  /** Mean |x| per input channel. */
  readonly xMean: Float64Array;
  /** Mean x² per input channel (importance weights for ggml codecs). */
  readonly xSquares?: Float64Array;
  readonly format: WeightFormat;
  /** α grid points (default 20). */
  readonly grid?: number;
  /** s_x^α / s_w^(1−α) (default) or s_x^α alone. */
  readonly duoScaling?: boolean;
  /**
   * The error of the chosen output when each balance layer computes with the given weights (by layer name)
   * and every other layer is unchanged; finite.
   */
  loss(candidate: ReadonlyMap<string, Float32Array>): Promise<number>;
}

/**
 * The loss of a mapping whose output is one layer's (o after v, down after up: llm-compressor's parent is the
 * layer itself), from the Hessian H = 2·XᵀX/n of its inputs instead of a forward: the mean over tokens and
 * output rows of (ΔW·x)², Σ_r Δ_r·H·Δ_rᵀ / (2·rows), Δ the candidate's change from the layer's current weights.
 */
export function layerOutputError(layer: AwqLayer & { readonly cols: number }, hessian: Float64Array, kernels: Kernels = defaultKernels()): AwqScaleSearch["loss"] {
  const { rows, cols } = layer;
  const h = Float32Array.from(hessian);
  const original = layer.w.slice();
  const delta = new Float32Array(rows * cols);
  const product = new Float32Array(rows * cols);
  return async (candidate) => {
    const c = candidate.get(layer.name)!;
    for (let i = 0; i < delta.length; i++) delta[i] = c[i]! - original[i]!;
    kernels.gemmNT(rows, cols, cols, delta, 0, cols, h, 0, cols, product, 0, cols);
    let sum = 0;
    for (let i = 0; i < delta.length; i++) sum += delta[i]! * product[i]!;
    return sum / (2 * rows);
  };
}

export interface AwqScaleResult {
  readonly scales: Float64Array;
  readonly ratio: number;
  /** The loss at every grid point. */
  readonly losses: number[];
}

export async function searchAwqScales(search: AwqScaleSearch): Promise<AwqScaleResult> {
  const { layers, cols, format } = search;
  const grid = search.grid ?? AWQ_GRID;
  if (!Number.isSafeInteger(grid) || grid < 1) throw new BitsmithError(`AWQ grid ${grid} must be a positive integer`, { field: "awq grid" });
  const wMean = (search.duoScaling ?? true) ? weightMagnitudes(layers, cols, awqGroupColumns(format, cols)) : undefined;
  const losses: number[] = [];
  let best: AwqScaleResult | undefined;
  for (let k = 0; k < grid; k++) {
    const ratio = k / grid;
    const scales = awqScales(search.xMean, wMean, ratio);
    const candidate = new Map(layers.map((l) => [l.name, quantizeScaled(l, cols, scales, format, search.xSquares)]));
    const loss = await search.loss(candidate);
    losses.push(loss);
    if (Number.isFinite(loss) && (!best || loss < best.losses[0]!)) best = { scales, ratio, losses: [loss] };
  }
  if (!best) throw new BitsmithError("no grid point gave a finite loss (NaN or infinite activations)", { field: layers.map((l) => l.name).join(", ") });
  return { scales: best.scales, ratio: best.ratio, losses };
}

/**
 * AutoAWQ's clip search on w [rows × cols] (changed in place: each row's groups clamped to ±best range) with
 * x [tokens × cols] the layer's (sampled) inputs. Returns the chosen shrink fraction per (row, group).
 */
export function clipWeights(layer: AwqLayer, cols: number, x: Float32Array, tokens: number, format: WeightFormat, importance?: Float32Array): Float64Array {
  const { w, rows } = layer;
  const g = awqGroupColumns(format, cols);
  const groups = cols / g;
  const orgMax = new Float64Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < groups; k++) {
      let m = 0;
      for (let i = 0; i < g; i++) m = Math.max(m, Math.abs(w[r * cols + k * g + i]!));
      orgMax[r * groups + k] = m;
    }
  }
  const bestErr = new Float64Array(rows * groups).fill(Infinity);
  const bestShrink = new Float64Array(rows * groups);
  const clamped = new Float32Array(rows * cols);
  const delta = new Float32Array(rows * cols);
  const out = new Float32Array(tokens * rows);
  const kernels = defaultKernels();
  for (let step = 0; step < CLIP_MAX_SHRINK * CLIP_GRID; step++) {
    const f = 1 - step / CLIP_GRID;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const m = orgMax[r * groups + Math.floor(c / g)]! * f;
        const v = w[r * cols + c]!;
        clamped[r * cols + c] = v > m ? m : v < -m ? -m : v;
      }
    }
    const q = rtnQuantize(layer.name, clamped, rows, cols, format, importance).values;
    for (let i = 0; i < delta.length; i++) delta[i] = q[i]! - w[i]!;
    // Per group: the output difference of every token and row, X_g · Δ_gᵀ, squared and averaged over tokens.
    for (let k = 0; k < groups; k++) {
      kernels.gemmNT(tokens, rows, g, x, k * g, cols, delta, k * g, cols, out, 0, rows);
      for (let r = 0; r < rows; r++) {
        let e = 0;
        for (let t = 0; t < tokens; t++) e += out[t * rows + r]! ** 2;
        e /= tokens;
        if (e < bestErr[r * groups + k]!) {
          bestErr[r * groups + k] = e;
          bestShrink[r * groups + k] = f;
        }
      }
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const m = orgMax[r * groups + Math.floor(c / g)]! * bestShrink[r * groups + Math.floor(c / g)]!;
      const v = w[r * cols + c]!;
      w[r * cols + c] = v > m ? m : v < -m ? -m : v;
    }
  }
  return bestShrink;
}
