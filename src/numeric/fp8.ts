/**
 * 8-bit floats as safetensors stores them (F8_E4M3 = OCP/NVIDIA "e4m3fn", F8_E5M2).
 * - E4M3FN: bias 7, no infinities, NaN = 0x7F / 0xFF, largest finite 448, subnormals multiples of 2^-9.
 * - E5M2: bias 15 (the upper byte of an fp16), infinities 0x7C / 0xFC, NaN 0x7D..0x7F, largest finite 57344.
 * Encoding rounds to nearest even. Out-of-range values:
 * - `saturate = false` (default; what PyTorch's `.to(float8_*)` does): E4M3FN turns anything that rounds
 *   past 448 (|x| > 464, and +-inf) into NaN; E5M2 rounds past 57344 (|x| >= 61440) to +-inf.
 * - `saturate = true` (what FP8 quantizers do after clamping): +-inf and out-of-range values become +-max.
 * NaN always encodes as sign | 0x7F.
 */
import { f16ToF32, f32Bits } from "./half.js";

const TWO_POW_52 = 4503599627370496;

/** Round-half-even of a non-negative float64 below 2^51. */
const roundHalfEven = (v: number): number => v + TWO_POW_52 - TWO_POW_52;

let e4m3Table: Float32Array | undefined;
let e5m2Table: Float32Array | undefined;

/** float32 values of all 256 E4M3FN codes. */
export function e4m3Table256(): Float32Array {
  if (e4m3Table) return e4m3Table;
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) {
    const exp = (b >>> 3) & 0xf;
    const man = b & 7;
    let v: number;
    if (exp === 0xf && man === 7) v = NaN;
    else if (exp === 0) v = man * 2 ** -9;
    else v = (1 + man / 8) * 2 ** (exp - 7);
    t[b] = b & 0x80 ? -v : v;
  }
  e4m3Table = t;
  return t;
}

/** float32 values of all 256 E5M2 codes. */
export function e5m2Table256(): Float32Array {
  if (e5m2Table) return e5m2Table;
  const t = new Float32Array(256);
  for (let b = 0; b < 256; b++) t[b] = f16ToF32(b << 8);
  e5m2Table = t;
  return t;
}

export const e4m3ToF32 = (b: number): number => e4m3Table256()[b & 0xff]!;
export const e5m2ToF32 = (b: number): number => e5m2Table256()[b & 0xff]!;

/** E4M3FN code of `x`. */
export function f32ToE4m3(x: number, saturate = false): number {
  const w = f32Bits(x);
  const sign = (w >>> 24) & 0x80;
  const a = w & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7f;
  if (a >= 0x3c800000) {
    // Normal range (|x| >= 2^-6): drop 20 mantissa bits with round-half-even; a carry past 0x7E lands on
    // the NaN code or beyond, i.e. the value rounded above 448.
    const code = a >= 0x7f800000 ? 0x100 : (a - 0x3c000000 + 0x7ffff + ((a >>> 20) & 1)) >>> 20;
    if (code > 0x7e) return sign | (saturate ? 0x7e : 0x7f);
    return sign | code;
  }
  // Subnormals are multiples of 2^-9; rounding up to 8 gives the smallest normal's code.
  return sign | roundHalfEven(Math.abs(Math.fround(x)) * 512);
}

/** E5M2 code of `x`. */
export function f32ToE5m2(x: number, saturate = false): number {
  const w = f32Bits(x);
  const sign = (w >>> 24) & 0x80;
  const a = w & 0x7fffffff;
  if (a > 0x7f800000) return sign | 0x7f;
  if (a >= 0x38800000) {
    const code = a >= 0x7f800000 ? 0x7c : (a - 0x38000000 + 0xfffff + ((a >>> 21) & 1)) >>> 21;
    if (code >= 0x7c) return sign | (saturate ? 0x7b : 0x7c);
    return sign | code;
  }
  // Subnormals are multiples of 2^-16.
  return sign | roundHalfEven(Math.abs(Math.fround(x)) * 65536);
}

/** Decodes `n` E4M3FN bytes to float32. */
export function e4m3ToF32Row(src: Uint8Array, dst: Float32Array, n = src.length): Float32Array {
  const t = e4m3Table256();
  for (let i = 0; i < n; i++) dst[i] = t[src[i]!]!;
  return dst;
}

/** Decodes `n` E5M2 bytes to float32. */
export function e5m2ToF32Row(src: Uint8Array, dst: Float32Array, n = src.length): Float32Array {
  const t = e5m2Table256();
  for (let i = 0; i < n; i++) dst[i] = t[src[i]!]!;
  return dst;
}

/** Encodes `n` float32 values as E4M3FN. */
export function f32ToE4m3Row(src: Float32Array, dst: Uint8Array, saturate = false, n = src.length): Uint8Array {
  for (let i = 0; i < n; i++) dst[i] = f32ToE4m3(src[i]!, saturate);
  return dst;
}

/** Encodes `n` float32 values as E5M2. */
export function f32ToE5m2Row(src: Float32Array, dst: Uint8Array, saturate = false, n = src.length): Uint8Array {
  for (let i = 0; i < n; i++) dst[i] = f32ToE5m2(src[i]!, saturate);
  return dst;
}
