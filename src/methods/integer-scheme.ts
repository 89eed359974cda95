/**
 * Integer group quantization as GPTQ, AWQ and compressed-tensors store it: w ≈ (code − zero) · scale with
 * unsigned codes of `bits` bits, one scale (and for asymmetric schemes one zero point) per group of input
 * columns of an output row.
 *
 * Parameters of a group follow GPTQ's Quantizer.find_params: the range [min(x, 0), max(x, 0)] (so zero is
 * always representable), an all-zero group widened to [−1, 1]; asymmetric: scale = (hi − lo) / (2^bits − 1),
 * zero = round(−lo / scale); symmetric: scale = 2·max|x| / (2^bits − 1), zero = 2^(bits−1) (the convention of
 * the QuantizedLinear interchange type and of compressed-tensors). Codes are clamp(round(x / scale) + zero, 0,
 * 2^bits − 1) with round-half-to-even (torch.round).
 *
 * Differences from GPTQModel, on purpose: the scale is rounded to the type it will be stored in (F16 for the
 * GPTQ and AWQ layouts) before any code is chosen, so the written model dequantizes to exactly the values the
 * method optimised; and a symmetric group whose values are all ≥ 0 gets the same 2·max|x| range as any other
 * (GPTQModel keeps lo = 0 there, which clips the upper half of such a group).
 *
 * Optional clip search is GPTQ's `mse` option: shrink the range by p = 1, 0.99, ..., 0.21 and keep the p that
 * minimises Σ|q(x) − x|^2.4 over the group.
 */
import { BitsmithError } from "../core/index.js";
import { roundToScaleType } from "../formats/quantized-hf/index.js";
import type { ScaleType } from "../formats/quantized-hf/index.js";

export interface IntegerScheme {
  /** Bits per code, 2 to 8. */
  readonly bits: number;
  /** Input columns per group; −1 for one group per output row (per-channel). */
  readonly groupSize: number;
  readonly symmetric: boolean;
  /** The type scales are stored in (default F16): every scale is exactly representable in it. */
  readonly scaleType?: ScaleType;
  /** Search a shrunk range per group (GPTQ's mse grid). */
  readonly clipSearch?: boolean;
  /**
   * Smallest zero point of an asymmetric group (default 0). GPTQ's "gptq" checkpoint format stores zero − 1
   * and so cannot hold 0: with 1 here, a group whose values are all ≥ 0 gets zero 1 and a scale widened to
   * max / (2^bits − 2) instead.
   */
  readonly minZero?: number;
}

/** Round half to even, as torch.round (an integer result; −0 becomes 0). */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d < 0.5) return f + 0;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** Checks bits and that the group size divides a row of `cols` values; returns the columns per group. */
export function groupColumns(scheme: IntegerScheme, cols: number, field?: string): number {
  if (!Number.isSafeInteger(scheme.bits) || scheme.bits < 2 || scheme.bits > 8) {
    throw new BitsmithError(`${scheme.bits} bits: integer quantization takes 2 to 8 bits`, { field: field ?? "bits" });
  }
  const g = scheme.groupSize === -1 ? cols : scheme.groupSize;
  if (!Number.isSafeInteger(g) || g <= 0) throw new BitsmithError(`group size ${scheme.groupSize} is neither -1 (per-channel) nor positive`, { field: field ?? "group size" });
  if (cols % g !== 0) {
    throw new BitsmithError(`group size ${g} does not divide the row length ${cols}; use a group size that divides it, or -1 (one group per row)`, { field: field ?? "group size" });
  }
  return g;
}

export interface GroupParams {
  scale: number;
  zero: number;
}

const SMALLEST: Record<ScaleType, number> = { F16: 2 ** -24, BF16: 2 ** -133, F32: 2 ** -149 };
const LARGEST: Record<ScaleType, number> = { F16: 65504, BF16: 3.3895313892515355e38, F32: 3.4028234663852886e38 };

/** `x` as the scale type stores it, never 0 or infinite (a scale of 0 would make every code divide by 0). */
export function storedScale(x: number, type: ScaleType): number {
  const r = roundToScaleType(x, type);
  if (r === 0) return SMALLEST[type];
  return Number.isFinite(r) ? r : LARGEST[type];
}

/** Scale and zero point for a group whose values span [lo, hi] (lo ≤ 0 ≤ hi). */
export function paramsForRange(lo: number, hi: number, scheme: IntegerScheme): GroupParams {
  const maxq = (1 << scheme.bits) - 1;
  const type = scheme.scaleType ?? "F16";
  if (scheme.symmetric) {
    let amax = Math.max(-lo, hi);
    if (amax === 0) amax = 1;
    return { scale: storedScale((2 * amax) / maxq, type), zero: 1 << (scheme.bits - 1) };
  }
  if (lo === 0 && hi === 0) {
    lo = -1;
    hi = 1;
  }
  const minZero = scheme.minZero ?? 0;
  const scale = storedScale((hi - lo) / maxq, type);
  const zero = roundHalfEven(-lo / scale);
  if (zero >= minZero) return { scale, zero: Math.min(maxq, zero) };
  // Too small a zero point: fix it at minZero and widen the scale so hi stays representable.
  const widened = storedScale(Math.max(hi / (maxq - minZero), -lo / minZero), type);
  return { scale: widened, zero: minZero };
}

/** The code of x: clamp(round(x / scale) + zero, 0, maxq). */
export function quantizeCode(x: number, p: GroupParams, maxq: number): number {
  const q = roundHalfEven(x / p.scale) + p.zero;
  return q < 0 ? 0 : q > maxq ? maxq : q;
}

/** GPTQ's mse grid: 100 steps, shrinking to at most 0.8 of the range, error norm 2.4. */
const CLIP_GRID = 100;
const CLIP_MAX_SHRINK = 0.8;
const CLIP_NORM = 2.4;

/**
 * Parameters of the group whose `count` values are get(0..count-1): the full range, or with clipSearch the
 * best shrunk range. `skip(i)`, when given, leaves value i out (outliers kept apart).
 */
export function groupParams(get: (i: number) => number, count: number, scheme: IntegerScheme, skip?: (i: number) => boolean): GroupParams {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < count; i++) {
    if (skip?.(i)) continue;
    const v = get(i);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const full = paramsForRange(lo, hi, scheme);
  if (!scheme.clipSearch) return full;
  const maxq = (1 << scheme.bits) - 1;
  let best = full;
  let bestErr = Infinity;
  for (let s = 0; s < CLIP_MAX_SHRINK * CLIP_GRID; s++) {
    const p = 1 - s / CLIP_GRID;
    const params = paramsForRange(p * lo, p * hi, scheme);
    let err = 0;
    for (let i = 0; i < count && err < bestErr; i++) {
      if (skip?.(i)) continue;
      const v = get(i);
      err += Math.abs((quantizeCode(v, params, maxq) - params.zero) * params.scale - v) ** CLIP_NORM;
    }
    if (err < bestErr) {
      bestErr = err;
      best = params;
    }
  }
  return best;
}
