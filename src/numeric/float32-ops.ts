/**
 * The roundings ggml's quantizers use, with C float semantics. JavaScript computes in float64; a single
 * +, -, *, / or sqrt of two float32 values rounded once with Math.fround equals the float32 operation, so
 * codecs write `Math.fround(a * b)` for each C operation (and never fuse a multiply into an add).
 */

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * ggml's nearest_int(): adds 1.5 * 2^23 in float32 and reads the low mantissa bits. That is round half to even
 * for |x| < 2^22; beyond that (an assert that release builds compile out) the same bit trick gives the same
 * wrapped result C produces, NaN gives 0 and +-inf -4194304.
 */
export function nearestInt(x: number): number {
  const v = Math.fround(x + 12582912);
  if (v >= 8388608 && v < 16777216) return (v - 12582912) | 0;
  F32[0] = v;
  return (U32[0]! & 0x7fffff) - 0x400000;
}

/** C roundf / lroundf: round half away from zero. */
export function roundAway(x: number): number {
  return x < 0 ? -Math.floor(0.5 - x) : Math.floor(x + 0.5);
}

