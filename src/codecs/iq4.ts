/**
 * ggml's non-linear 4-bit types: each 4-bit code indexes the 16-entry table kvalues_iq4nl.
 *   IQ4_NL  18 B per 32 values: fp16 d, qs[16]                      x = d * kvalues[q]
 *   IQ4_XS 136 B per 256 values: fp16 d, u16 scales_h, scales_l[4], qs[128]; eight 32-value sub-blocks with
 *          6-bit scales ls (low 4 bits in scales_l, high 2 in scales_h), x = d * (ls - 32) * kvalues[q]
 * Nibble layout as Q4_0: value j of a 32-group in the low nibble of byte j, value j+16 in its high nibble.
 * Both quantize with quantize_row_iq4_nl_impl (ntry = 7: 15 scales tried per 32 values), weights x^2 or, with
 * an importance matrix, imatrix[j] * sqrt(sigma2 + x[j]^2). Byte-exact with ggml_quantize_chunk.
 */
import { nearestInt } from "../numeric/float32-ops.js";
import { loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { KVALUES_IQ4NL } from "./ggml-search.js";
import { iq4CodesBatch, iq4nlBlockScalesBatch } from "./ggml-search-batch.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;

const kvalues = Float32Array.from(KVALUES_IQ4NL);

const scales = new Float32Array(8);

/**
 * Row-wide scratch: weights per value; scale and inverse rounding scale per 32-value block; the packed codes
 * (the searches and the rounding of a row run as batches). Grown to the longest row seen.
 */
const row = { weights: new Float32Array(0), scales: new Float32Array(0), ids: new Float32Array(0), codes: new Uint8Array(0) };

/**
 * The weights of quantize_row_iq4_nl_impl for a row cut into super-blocks of `superBlockSize` (32: IQ4_NL,
 * 256: IQ4_XS): x^2, or with an importance matrix qw[j] * sqrt(sigma2 + x[j]^2), sigma2 = 2 mean(x^2) of the
 * super-block; then the scale search of every 32-value block into row.scales.
 */
function searchRow(superBlockSize: number, x: Float32Array, xo: number, n: number, qw: Float32Array | undefined): void {
  if (row.weights.length < n) {
    row.weights = new Float32Array(n);
    row.scales = new Float32Array(n / 32);
    row.ids = new Float32Array(n / 32);
    row.codes = new Uint8Array(n / 2);
  }
  const w = row.weights;
  for (let b = 0; b < n; b += superBlockSize) {
    const base = xo + b;
    if (qw) {
      let sigma2 = 0;
      for (let j = 0; j < superBlockSize; j++) sigma2 = fr(sigma2 + fr(x[base + j]! * x[base + j]!));
      sigma2 = fr(sigma2 * fr(2 / superBlockSize));
      for (let j = 0; j < superBlockSize; j++) {
        const v = x[base + j]!;
        w[b + j] = fr(qw[b + j]! * fr(Math.sqrt(fr(sigma2 + fr(v * v)))));
      }
    } else {
      for (let j = 0; j < superBlockSize; j++) w[b + j] = fr(x[base + j]! * x[base + j]!);
    }
  }
  iq4nlBlockScalesBatch(n / 32, x, xo, w, row.scales);
}

/**
 * The rest of quantize_row_iq4_nl_impl for the super-block of `superBlockSize` values whose block scales are
 * row.scales[so ..]: writes d (and for IQ4_XS the sub-block scales) at dst[o] and the inverse scale each
 * 32-value block is rounded with to row.ids[so ..].
 */
function finishSuperBlock(superBlockSize: number, so: number, dst: Uint8Array, o: number): void {
  const nb = superBlockSize / 32;
  if (nb > 1) {
    let maxScale = 0;
    let amaxScale = 0;
    for (let ib = 0; ib < nb; ib++) {
      const d = row.scales[so + ib]!;
      scales[ib] = d;
      const absD = Math.abs(d);
      if (absD > amaxScale) {
        amaxScale = absD;
        maxScale = d;
      }
    }
    // IQ4_XS: 6-bit sub-block scales relative to d = -max/32 (the unrounded d, as ggml uses it).
    const d = fr(-maxScale / 32);
    storeF16(dst, o, d);
    const id = d ? fr(1 / d) : 0;
    let scalesH = 0;
    for (let ib = 0; ib < nb; ib++) {
      let l = Math.max(-32, Math.min(31, nearestInt(fr(id * scales[ib]!))));
      const dl = fr(d * l);
      row.ids[so + ib] = dl ? fr(1 / dl) : 0;
      l += 32;
      if (ib % 2 === 0) dst[o + 4 + (ib >>> 1)] = l & 15;
      else dst[o + 4 + (ib >>> 1)] |= (l & 15) << 4;
      scalesH |= (l >>> 4) << (2 * ib);
    }
    dst[o + 2] = scalesH;
    dst[o + 3] = scalesH >>> 8;
  } else {
    const d = row.scales[so]!;
    storeF16(dst, o, d);
    row.ids[so] = d ? fr(1 / d) : 0;
  }
}

function quantizeRowIq4Nl(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  searchRow(32, x, xo, n, qw);
  for (let b = 0, ob = o; b < n; b += 32, ob += 18) finishSuperBlock(32, b / 32, dst, ob);
  iq4CodesBatch(n / 32, x, xo, row.ids, row.codes, 0);
  for (let b = 0; b < n / 32; b++, o += 18) dst.set(row.codes.subarray(16 * b, 16 * b + 16), o + 2);
}

function quantizeRowIq4Xs(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  searchRow(256, x, xo, n, qw);
  for (let b = 0, ob = o; b < n; b += 256, ob += 136) finishSuperBlock(256, b / 32, dst, ob);
  iq4CodesBatch(n / 32, x, xo, row.ids, row.codes, 0);
  for (let b = 0; b < n / 256; b++, o += 136) dst.set(row.codes.subarray(128 * b, 128 * b + 128), o + 8);
}

function dequantizeIq4Nl(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, k = 0; i < nb; i++, o += 18, k += 32) {
    const d = loadF16(src, o);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]!;
      out[k + j] = d * kvalues[q & 15]!;
      out[k + j + 16] = d * kvalues[q >>> 4]!;
    }
  }
}

function dequantizeIq4Xs(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, k = 0; i < nb; i++, o += 136) {
    const d = loadF16(src, o);
    const scalesH = src[o + 2]! | (src[o + 3]! << 8);
    for (let ib = 0; ib < 8; ib++, k += 32) {
      const ls = ((src[o + 4 + (ib >>> 1)]! >>> (4 * (ib % 2))) & 15) | (((scalesH >>> (2 * ib)) & 3) << 4);
      const dl = fr(d * (ls - 32));
      const q0 = o + 8 + 16 * ib;
      for (let j = 0; j < 16; j++) {
        const q = src[q0 + j]!;
        out[k + j] = dl * kvalues[q & 15]!;
        out[k + j + 16] = dl * kvalues[q >>> 4]!;
      }
    }
  }
}

export const iq4NlCodec = defineBlockCodec({ name: "IQ4_NL", quantizeRow: quantizeRowIq4Nl, dequantize: dequantizeIq4Nl });
export const iq4XsCodec = defineBlockCodec({ name: "IQ4_XS", quantizeRow: quantizeRowIq4Xs, dequantize: dequantizeIq4Xs });

registerCodec(iq4NlCodec);
registerCodec(iq4XsCodec);
