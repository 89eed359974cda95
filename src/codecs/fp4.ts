/**
 * 4-bit float (E2M1) block formats, byte-exact with ggml. A code's value is kvalues_mxfp4[code] (the E2M1
 * values doubled, so they are integers) times a block scale that ggml keeps halved to compensate:
 *   MXFP4 17 B per 32 values: E8M0 exponent e, qs[16]; scale 2^(e-128)
 *   NVFP4 36 B per 64 values: four UE4M3 scales (one per 16 values), qs[32]; scale ue4m3(s) / 2
 * Nibble layout per group (32 values for MXFP4, 16 for NVFP4): value j low nibble of byte j, value j+n/2 high.
 * Each value takes the nearest table entry (the first on ties). ggml ignores the importance matrix for both.
 */
import { f32Bits, f32FromBits } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;

export const KVALUES_MXFP4: readonly number[] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/** best_index_mxfp4: index of the entry k minimising |k*scale - x| in float32, first one on ties. */
function bestIndex(x: number, scale: number): number {
  let best = 0;
  let bestErr = Math.abs(fr(fr(KVALUES_MXFP4[0]! * scale) - x));
  for (let i = 1; i < 16; i++) {
    const err = Math.abs(fr(fr(KVALUES_MXFP4[i]! * scale) - x));
    if (err < bestErr) {
      best = i;
      bestErr = err;
    }
  }
  return best;
}

/** ggml_e8m0_to_fp32_half: 2^(e-128) as float32 (denormal for e < 2). */
export function e8m0ToF32Half(e: number): number {
  return f32FromBits(e < 2 ? 0x00200000 << e : (e - 1) << 23);
}

/** ggml_ue4m3_to_fp32: half the value of an unsigned E4M3 code (bias 7, 3 mantissa bits); 0 and 0x7F give 0. */
export function ue4m3ToF32Half(x: number): number {
  if (x === 0 || x === 0x7f) return 0;
  const exp = (x >>> 3) & 15;
  const man = x & 7;
  const raw = exp === 0 ? man * 2 ** -9 : (1 + man / 8) * 2 ** (exp - 7);
  return raw * 0.5;
}

/** ggml_fp32_to_ue4m3: UE4M3 code of a non-negative scale, saturating at 448 (0x7E); rounds half up. */
export function f32ToUe4m3(x: number): number {
  if (!(x > 0)) return 0;
  if (x > 448) x = 448;
  const bits = f32Bits(x);
  const fp32Man = (bits >>> 20) & 7;
  let exp = ((bits >>> 23) & 0xff) - 127 + 7;
  if (exp <= 0) {
    // Subnormal: man = (int)(x * 512 + 0.5), 1..7
    const man = fr(fr(x * 512) + 0.5) | 0;
    return man < 1 ? 0 : Math.min(7, man);
  }
  if (exp >= 15) return 0x7e;
  let man = fp32Man + ((bits >>> 19) & 1);
  if (man > 7) {
    man = 0;
    exp++;
    if (exp >= 15) return 0x7e;
  }
  return (exp << 3) | man;
}

function quantizeRowMxfp4(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < n; b += 32, o += 17) {
    const base = xo + b;
    let amax = 0;
    for (let j = 0; j < 32; j++) if (amax < Math.abs(x[base + j]!)) amax = Math.abs(x[base + j]!);
    // (uint8_t)(floorf(log2f(amax)) - 2 + 127); log2f rounds to float32 before the floor.
    const e = amax > 0 ? (Math.floor(fr(Math.log2(amax))) - 2 + 127) & 255 : 0;
    const d = e8m0ToF32Half(e);
    dst[o] = e;
    for (let j = 0; j < 16; j++) dst[o + 1 + j] = bestIndex(x[base + j]!, d) | (bestIndex(x[base + j + 16]!, d) << 4);
  }
}

function dequantizeMxfp4(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, k = 0; i < nb; i++, o += 17, k += 32) {
    const d = e8m0ToF32Half(src[o]!);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 1 + j]!;
      out[k + j] = KVALUES_MXFP4[q & 15]! * d;
      out[k + j + 16] = KVALUES_MXFP4[q >>> 4]! * d;
    }
  }
}

function quantizeRowNvfp4(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < n; b += 64, o += 36) {
    for (let s = 0; s < 4; s++) {
      const base = xo + b + 16 * s;
      let amax = 0;
      for (let j = 0; j < 16; j++) if (amax < Math.abs(x[base + j]!)) amax = Math.abs(x[base + j]!);
      const ue = f32ToUe4m3(fr(amax / 6));
      dst[o + s] = ue;
      const d = ue4m3ToF32Half(ue);
      for (let j = 0; j < 8; j++) dst[o + 4 + 8 * s + j] = bestIndex(x[base + j]!, d) | (bestIndex(x[base + j + 8]!, d) << 4);
    }
  }
}

function dequantizeNvfp4(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, k = 0; i < nb; i++, o += 36) {
    for (let s = 0; s < 4; s++, k += 16) {
      const d = ue4m3ToF32Half(src[o + s]!);
      for (let j = 0; j < 8; j++) {
        const q = src[o + 4 + 8 * s + j]!;
        out[k + j] = KVALUES_MXFP4[q & 15]! * d;
        out[k + j + 8] = KVALUES_MXFP4[q >>> 4]! * d;
      }
    }
  }
}

export const mxfp4Codec = defineBlockCodec({ name: "MXFP4", quantizeRow: quantizeRowMxfp4, dequantize: dequantizeMxfp4 });
export const nvfp4Codec = defineBlockCodec({ name: "NVFP4", quantizeRow: quantizeRowNvfp4, dequantize: dequantizeNvfp4 });

registerCodec(mxfp4Codec);
registerCodec(nvfp4Codec);
