/**
 * ggml's Q1_0 and Q2_0 (sign and 2-bit blocks). Byte-exact with ggml; the importance matrix is ignored.
 *   Q1_0 18 B per 128: fp16 d = mean |x|, then one bit per value (bit j%8 of byte j/8): 1 for x >= 0 (+d), 0 for -d
 *   Q2_0 18 B per 64:  fp16 d = max |x|, then 2 bits per value (bits 2(j%4) of byte j/4): code round(x/d) + 1
 *                      clamped to 0..3, value (code - 1) * d
 */
import { roundAway } from "../numeric/float32-ops.js";
import { loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;

function quantizeRowQ1(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < n; b += 128, o += 18) {
    const base = xo + b;
    let sumAbs = 0;
    for (let j = 0; j < 128; j++) sumAbs = fr(sumAbs + Math.abs(x[base + j]!));
    storeF16(dst, o, fr(sumAbs / 128));
    for (let k = 0; k < 16; k++) {
      let byte = 0;
      for (let bit = 0; bit < 8; bit++) if (x[base + 8 * k + bit]! >= 0) byte |= 1 << bit;
      dst[o + 2 + k] = byte;
    }
  }
}

function dequantizeQ1(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, k = 0; i < nb; i++, o += 18) {
    const d = loadF16(src, o);
    for (let j = 0; j < 128; j++) out[k++] = (src[o + 2 + (j >>> 3)]! >>> (j & 7)) & 1 ? d : -d;
  }
}

function quantizeRowQ2(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < n; b += 64, o += 18) {
    const base = xo + b;
    let amax = 0;
    for (let j = 0; j < 64; j++) if (Math.abs(x[base + j]!) > amax) amax = Math.abs(x[base + j]!);
    const id = amax > 0 ? fr(1 / amax) : 0;
    storeF16(dst, o, amax);
    for (let k = 0; k < 16; k++) {
      let byte = 0;
      for (let s = 0; s < 4; s++) {
        const q = Math.max(0, Math.min(3, roundAway(fr(x[base + 4 * k + s]! * id)) + 1));
        byte |= q << (2 * s);
      }
      dst[o + 2 + k] = byte;
    }
  }
}

function dequantizeQ2(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, k = 0; i < nb; i++, o += 18) {
    const d = loadF16(src, o);
    for (let j = 0; j < 64; j++) out[k++] = (((src[o + 2 + (j >>> 2)]! >>> (2 * (j & 3))) & 3) - 1) * d;
  }
}

export const q1_0Codec = defineBlockCodec({ name: "Q1_0", quantizeRow: quantizeRowQ1, dequantize: dequantizeQ1 });
export const q2_0Codec = defineBlockCodec({ name: "Q2_0", quantizeRow: quantizeRowQ2, dequantize: dequantizeQ2 });

registerCodec(q1_0Codec);
registerCodec(q2_0Codec);
