/**
 * The interchange type between quantization methods (RTN, GPTQ, AWQ ...) and the Hugging Face output layouts:
 * one linear layer as unsigned integer codes, per-group scales and optional zero points and group indices.
 * Every layout stores exactly this and reads it back; dequantizeLinear is the ground truth they all reproduce.
 *
 * Conventions (the same in every layout, converted at the layout's edge):
 *   - weights are [outFeatures][inFeatures] as in PyTorch's nn.Linear; codes use that order, row-major;
 *   - codes are unsigned, in [0, 2^bits);
 *   - zero points are in the code domain: w = (code - zero) * scale;
 *   - symmetric means zero = 2^(bits-1) for every group (GPTQ's `(maxq + 1) / 2`, compressed-tensors' signed
 *     ints offset by 2^(bits-1)); then `zeros` is absent;
 *   - group g of output j covers the input columns i with group(i) = g, where group(i) = gIdx[i] when gIdx is
 *     given (GPTQ act-order / desc_act) and floor(i / groupSize) otherwise; groupSize -1 means one group per row.
 */
import { BitsmithError } from "../../core/index.js";

/** What a quantized linear is, known before its values are: enough to size every tensor of every layout. */
export interface QuantizedLinearShape {
  /** Hugging Face module name, e.g. "model.layers.0.self_attn.q_proj" (tensors are `<name>.qweight` ...). */
  readonly name: string;
  readonly outFeatures: number;
  readonly inFeatures: number;
  /** Bits per code: 2, 3, 4 or 8, as the layout allows. */
  readonly bits: number;
  /** Input columns per group; -1 = one group per output row (per-channel). */
  readonly groupSize: number;
  readonly symmetric: boolean;
}

export interface QuantizedLinear extends QuantizedLinearShape {
  /** [out][in] codes in [0, 2^bits). */
  readonly codes: Uint8Array;
  /** [out][nGroups]. */
  readonly scales: Float32Array;
  /** [out][nGroups] zero points in the code domain; required when not symmetric, absent when symmetric. */
  readonly zeros?: Uint8Array | Int32Array;
  /** [in] group of each input column (act-order); absent means floor(i / groupSize). */
  readonly gIdx?: Int32Array;
}

/** Input columns per group, with -1 resolved to the whole row. */
export function effectiveGroupSize(s: QuantizedLinearShape): number {
  return s.groupSize === -1 ? s.inFeatures : s.groupSize;
}

export function groupCount(s: QuantizedLinearShape): number {
  return s.inFeatures / effectiveGroupSize(s);
}

/** The zero point every group of a symmetric linear has. */
export function symmetricZero(bits: number): number {
  return 1 << (bits - 1);
}

/** floor(i / groupSize) for every column: the group index a linear without act-order has. */
export function sequentialGIdx(s: QuantizedLinearShape): Int32Array {
  const size = effectiveGroupSize(s);
  const g = new Int32Array(s.inFeatures);
  for (let i = 0; i < g.length; i++) g[i] = Math.floor(i / size);
  return g;
}

export function isSequentialGIdx(s: QuantizedLinearShape, gIdx: Int32Array): boolean {
  const size = effectiveGroupSize(s);
  for (let i = 0; i < gIdx.length; i++) if (gIdx[i] !== Math.floor(i / size)) return false;
  return true;
}

/** Checks dimensions, bits and group size; the layouts add their own limits. */
export function checkQuantizedLinearShape(s: QuantizedLinearShape, file?: string): void {
  const where = { file, field: s.name };
  const positive = (v: number) => Number.isSafeInteger(v) && v > 0;
  if (!positive(s.outFeatures) || !positive(s.inFeatures)) {
    throw new BitsmithError(`dimensions [${s.outFeatures}, ${s.inFeatures}] are not positive whole numbers`, where);
  }
  if (!Number.isSafeInteger(s.bits) || s.bits < 1 || s.bits > 8) throw new BitsmithError(`${s.bits} bits: codes must have 1 to 8 bits`, where);
  if (s.groupSize !== -1 && !positive(s.groupSize)) throw new BitsmithError(`group size ${s.groupSize} is neither -1 (per-channel) nor positive`, where);
  if (s.inFeatures % effectiveGroupSize(s) !== 0) {
    throw new BitsmithError(`group size ${s.groupSize} does not divide in_features ${s.inFeatures}`, where);
  }
}

/**
 * Checks a group index: every value names a group, and every group has exactly groupSize columns, as GPTQ's
 * act-order produces (a permutation cut into equal groups) and as loaders that sort by g_idx assume.
 */
export function checkGIdx(s: QuantizedLinearShape, gIdx: Int32Array, file?: string): void {
  const where = { file, field: `${s.name} g_idx` };
  if (gIdx.length !== s.inFeatures) throw new BitsmithError(`holds ${gIdx.length} entries; in_features is ${s.inFeatures}`, where);
  const groups = groupCount(s);
  const counts = new Int32Array(groups);
  for (let i = 0; i < gIdx.length; i++) {
    const g = gIdx[i]!;
    if (g < 0 || g >= groups) throw new BitsmithError(`column ${i} names group ${g}; there are ${groups} groups`, where);
    counts[g]!++;
  }
  const size = effectiveGroupSize(s);
  const bad = counts.findIndex((c) => c !== size);
  if (bad >= 0) throw new BitsmithError(`group ${bad} has ${counts[bad]} columns; every group must have ${size}`, where);
}

/** Checks that the arrays match the shape and hold codes and zero points in range. */
export function checkQuantizedLinear(q: QuantizedLinear, file?: string): void {
  checkQuantizedLinearShape(q, file);
  const where = (what: string) => ({ file, field: `${q.name} ${what}` });
  const elements = q.outFeatures * q.inFeatures;
  const cells = q.outFeatures * groupCount(q);
  const limit = 1 << q.bits;
  if (q.codes.length !== elements) throw new BitsmithError(`holds ${q.codes.length} codes; [${q.outFeatures}, ${q.inFeatures}] needs ${elements}`, where("codes"));
  for (let i = 0; i < elements; i++) {
    if (q.codes[i]! >= limit) throw new BitsmithError(`code ${q.codes[i]} at index ${i} does not fit in ${q.bits} bits`, where("codes"));
  }
  if (q.scales.length !== cells) throw new BitsmithError(`holds ${q.scales.length} scales; [${q.outFeatures}, ${groupCount(q)}] needs ${cells}`, where("scales"));
  if (q.symmetric && q.zeros) throw new BitsmithError("a symmetric linear has no zero points (they are 2^(bits-1))", where("zeros"));
  if (!q.symmetric) {
    if (!q.zeros) throw new BitsmithError("an asymmetric linear needs zero points", where("zeros"));
    if (q.zeros.length !== cells) throw new BitsmithError(`holds ${q.zeros.length} zero points; needs ${cells}`, where("zeros"));
    for (let i = 0; i < cells; i++) {
      const z = q.zeros[i]!;
      if (z < 0 || z >= limit) throw new BitsmithError(`zero point ${z} at index ${i} is outside the ${q.bits}-bit code range`, where("zeros"));
    }
  }
  if (q.gIdx) checkGIdx(q, q.gIdx, file);
}

/** The linear's weights as float32, [out][in]: (code - zero) * scale of the column's group. */
export function dequantizeLinear(q: QuantizedLinear): Float32Array {
  const { outFeatures: out, inFeatures: n } = q;
  const groups = groupCount(q);
  const gIdx = q.gIdx ?? sequentialGIdx(q);
  const mid = symmetricZero(q.bits);
  const w = new Float32Array(out * n);
  for (let j = 0; j < out; j++) {
    for (let i = 0; i < n; i++) {
      const cell = j * groups + gIdx[i]!;
      const zero = q.zeros ? q.zeros[cell]! : mid;
      w[j * n + i] = (q.codes[j * n + i]! - zero) * q.scales[cell]!;
    }
  }
  return w;
}
