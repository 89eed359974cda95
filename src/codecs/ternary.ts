/**
 * ggml's ternary types (BitNet b1.58 / TriLM weights), values in {-d, 0, +d} with d = the block's largest
 * magnitude, each value rounded half away from zero (lroundf). Byte-exact with ggml; the importance matrix is
 * ignored, as ggml does.
 *   TQ2_0 66 B per 256: qs[64] (2 bits per value: byte m of each 32-byte half holds values m, m+32, m+64,
 *         m+96 of its 128-half, code = value + 1), fp16 d
 *   TQ1_0 54 B per 256: qs[48] (5 trits per byte), qh[4] (4 trits per byte), fp16 d. A byte stores its trits
 *         t0..t4 (most significant first) as ceil(t * 256 / 243) with t = sum t_i 3^(4-i): multiplying the
 *         byte by 3^n and taking the top bits of (byte * 3) >> 8 reads trit n back.
 */
import { roundAway } from "../numeric/float32-ops.js";
import { loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;
const POW3 = [1, 3, 9, 27, 81, 243];

/** Stores fp16 max|x| of the 256 values at x[base] at dst[o] and returns 1/max (0 for an all-zero block). */
function ternaryScale(x: Float32Array, base: number, dst: Uint8Array, o: number): number {
  let amax = 0;
  for (let j = 0; j < 256; j++) {
    const a = Math.abs(x[base + j]!);
    amax = amax > a ? amax : a;
  }
  storeF16(dst, o, amax);
  return amax ? fr(1 / amax) : 0;
}

/** The code 0, 1, 2 of value -1, 0, +1 (lroundf(x * id) + 1). */
const trit = (v: number, id: number): number => roundAway(fr(v * id)) + 1;

/** Packs `count` trits t0..t(count-1), the first most significant, into one TQ1_0 byte. */
function packTrits(x: Float32Array, at: number, stride: number, count: number, id: number): number {
  let q = 0;
  for (let k = 0; k < count; k++) q = q * 3 + trit(x[at + k * stride]!, id);
  if (count === 4) q *= 3;
  return Math.floor((q * 256 + 242) / 243);
}

function quantizeRowTq1(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < n; b += 256, o += 54) {
    const base = xo + b;
    const id = ternaryScale(x, base, dst, o + 52);
    // qs[0..32): values m + 32k (k < 5); qs[32..48): values 160 + m + 16k; qh[0..4): values 240 + m + 4k (k < 4).
    for (let m = 0; m < 32; m++) dst[o + m] = packTrits(x, base + m, 32, 5, id);
    for (let m = 0; m < 16; m++) dst[o + 32 + m] = packTrits(x, base + 160 + m, 16, 5, id);
    for (let m = 0; m < 4; m++) dst[o + 48 + m] = packTrits(x, base + 240 + m, 4, 4, id);
  }
}

function dequantizeTq1(src: Uint8Array, nb: number, out: Float32Array): void {
  let k = 0;
  const unpack = (o: number, width: number, trits: number, d: number) => {
    for (let t = 0; t < trits; t++) {
      for (let m = 0; m < width; m++) {
        const q = (src[o + m]! * POW3[t]!) & 255;
        out[k++] = (((q * 3) >>> 8) - 1) * d;
      }
    }
  };
  for (let i = 0, o = 0; i < nb; i++, o += 54) {
    const d = loadF16(src, o + 52);
    unpack(o, 32, 5, d);
    unpack(o + 32, 16, 5, d);
    unpack(o + 48, 4, 4, d);
  }
}

function quantizeRowTq2(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): void {
  for (let b = 0; b < n; b += 256, o += 66) {
    const base = xo + b;
    const id = ternaryScale(x, base, dst, o + 64);
    for (let h = 0; h < 2; h++) {
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let k = 0; k < 4; k++) q |= (trit(x[base + 128 * h + m + 32 * k]!, id) & 3) << (2 * k);
        dst[o + 32 * h + m] = q;
      }
    }
  }
}

function dequantizeTq2(src: Uint8Array, nb: number, out: Float32Array): void {
  let k = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 66) {
    const d = loadF16(src, o + 64);
    for (let h = 0; h < 2; h++) {
      for (let l = 0; l < 4; l++) {
        for (let m = 0; m < 32; m++) out[k++] = (((src[o + 32 * h + m]! >>> (2 * l)) & 3) - 1) * d;
      }
    }
  }
}

export const tq1Codec = defineBlockCodec({ name: "TQ1_0", quantizeRow: quantizeRowTq1, dequantize: dequantizeTq1 });
export const tq2Codec = defineBlockCodec({ name: "TQ2_0", quantizeRow: quantizeRowTq2, dequantize: dequantizeTq2 });

registerCodec(tq1Codec);
registerCodec(tq2Codec);
