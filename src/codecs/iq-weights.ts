/**
 * Small float32 steps every grid i-quant quantizer in ggml-quants.c repeats: the super-block energy, the
 * importance weights, and the rounding of a sub-block scale to its stored code.
 */
import { nearestInt } from "../numeric/float32-ops.js";

const fr = Math.fround;

/** C's FLT_MAX, the start of ggml's minimum searches. */
export const FLT_MAX = fr(3.4028234663852886e38);

/** Sum of x^2 over the 256 values at x[xo], accumulated in float32 in order. */
export function sumSquares(x: Float32Array, xo: number): number {
  let s = 0;
  for (let j = 0; j < 256; j++) s = fr(s + fr(x[xo + j]! * x[xo + j]!));
  return s;
}

/** weight[i] = qw[qo + i] * sqrt(sigma2 + x[xo + i]^2) for i < n: the imatrix-based weights. */
export function iqWeights(x: Float32Array, xo: number, qw: Float32Array, qo: number, n: number, sigma2: number, weight: Float32Array): void {
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    weight[i] = fr(qw[qo + i]! * fr(Math.sqrt(fr(sigma2 + fr(v * v)))));
  }
}

/** weight[i] = x[xo + i]^2 for i < n: the weights without an imatrix. */
export function squareWeights(x: Float32Array, xo: number, n: number, weight: Float32Array): void {
  for (let i = 0; i < n; i++) weight[i] = fr(x[xo + i]! * x[xo + i]!);
}

/** A sub-block scale's stored code: nearest_int(0.5 * (id*scale - 1)) clamped to [0, max] (scale ~ d*(2l+1)). */
export function clampScaleCode(id: number, scale: number, max: number): number {
  const l = nearestInt(fr(0.5 * fr(fr(id * scale) - 1)));
  return l < 0 ? 0 : l > max ? max : l;
}
