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
import { GROUP_MAX_EPS } from "./ggml-search.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;

export const KVALUES_IQ4NL: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const kvalues = Float32Array.from(KVALUES_IQ4NL);
/** Sums of neighbouring table entries: x picks entry i once 2x reaches kvalues[i-1] + kvalues[i]. */
const midSums = Float32Array.from(KVALUES_IQ4NL, (v, i) => (i === 0 ? -Infinity : KVALUES_IQ4NL[i - 1]! + v));

/** best_index_int8 for the 16-entry table: branch-free binary search on exact midpoints (2x is exact). */
function bestIndex(x: number): number {
  const x2 = x + x;
  let idx = 0;
  idx = x2 >= midSums[idx + 8]! ? idx + 8 : idx;
  idx = x2 >= midSums[idx + 4]! ? idx + 4 : idx;
  idx = x2 >= midSums[idx + 2]! ? idx + 2 : idx;
  idx = x2 >= midSums[idx + 1]! ? idx + 1 : idx;
  return idx;
}

const NTRY = 7;
const weight = new Float32Array(32);
const scales = new Float32Array(8);
const L = new Uint8Array(256);
const candidate = new Uint8Array(32);

/**
 * quantize_row_iq4_nl_impl for one super-block of `superBlockSize` (32: IQ4_NL, 256: IQ4_XS) values at x[base].
 * Writes d (and for IQ4_XS the sub-block scales) at dst[o]; leaves the codes in L.
 */
function quantizeSuperBlock(superBlockSize: number, x: Float32Array, base: number, qw: Float32Array | undefined, qwo: number, dst: Uint8Array, o: number): void {
  let sigma2 = 0;
  for (let j = 0; j < superBlockSize; j++) sigma2 = fr(sigma2 + fr(x[base + j]! * x[base + j]!));
  sigma2 = fr(sigma2 * fr(2 / superBlockSize));
  let maxScale = 0;
  let amaxScale = 0;
  const nb = superBlockSize / 32;
  for (let ib = 0; ib < nb; ib++) {
    const xb = base + 32 * ib;
    for (let j = 0; j < 32; j++) {
      const v = x[xb + j]!;
      weight[j] = qw ? fr(qw[qwo + 32 * ib + j]! * fr(Math.sqrt(fr(sigma2 + fr(v * v))))) : fr(v * v);
    }
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 32; j++) {
      const ax = Math.abs(x[xb + j]!);
      if (ax > amax) {
        amax = ax;
        max = x[xb + j]!;
      }
    }
    if (amax < GROUP_MAX_EPS) {
      scales[ib] = 0;
      L.fill(0, 32 * ib, 32 * ib + 32);
      continue;
    }
    let d = fr(-max / -127);
    let id = fr(1 / d);
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[xb + j]!;
      const l = bestIndex(fr(id * v));
      L[32 * ib + j] = l;
      const wq = fr(weight[j]! * kvalues[l]!);
      sumqx = fr(sumqx + fr(wq * v));
      sumq2 = fr(sumq2 + fr(wq * kvalues[l]!));
    }
    d = sumq2 > 0 ? fr(sumqx / sumq2) : 0;
    let best = fr(d * sumqx);
    candidate.fill(255);
    for (let itry = -NTRY; itry <= NTRY; itry++) {
      id = fr((itry - 127) / max);
      // A try choosing the same codes as the one before has the same sums and cannot change the result.
      let changed = false;
      for (let j = 0; j < 32; j++) {
        const l = bestIndex(fr(id * x[xb + j]!));
        if (l !== candidate[j]) {
          candidate[j] = l;
          changed = true;
        }
      }
      if (!changed) continue;
      sumqx = 0;
      sumq2 = 0;
      for (let j = 0; j < 32; j++) {
        const q = kvalues[candidate[j]!]!;
        const wq = fr(weight[j]! * q);
        sumqx = fr(sumqx + fr(wq * x[xb + j]!));
        sumq2 = fr(sumq2 + fr(wq * q));
      }
      if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
        d = fr(sumqx / sumq2);
        best = fr(d * sumqx);
      }
    }
    scales[ib] = d;
    const absD = Math.abs(d);
    if (absD > amaxScale) {
      amaxScale = absD;
      maxScale = d;
    }
  }
  if (nb > 1) {
    // IQ4_XS: 6-bit sub-block scales relative to d = -max/32 (the unrounded d, as ggml uses it).
    const d = fr(-maxScale / 32);
    storeF16(dst, o, d);
    const id = d ? fr(1 / d) : 0;
    let scalesH = 0;
    for (let ib = 0; ib < nb; ib++) {
      let l = Math.max(-32, Math.min(31, nearestInt(fr(id * scales[ib]!))));
      const dl = fr(d * l);
      const idl = dl ? fr(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndex(fr(idl * x[base + 32 * ib + j]!));
      l += 32;
      if (ib % 2 === 0) dst[o + 4 + (ib >>> 1)] = l & 15;
      else dst[o + 4 + (ib >>> 1)] |= (l & 15) << 4;
      scalesH |= (l >>> 4) << (2 * ib);
    }
    dst[o + 2] = scalesH;
    dst[o + 3] = scalesH >>> 8;
  } else {
    storeF16(dst, o, scales[0]!);
    const id = scales[0] ? fr(1 / scales[0]!) : 0;
    for (let j = 0; j < 32; j++) L[j] = bestIndex(fr(id * x[base + j]!));
  }
}

/** Packs the codes of `n` values (a multiple of 32) as nibbles at dst[o]. */
function packNibbles(n: number, dst: Uint8Array, o: number): void {
  for (let i = 0; i < n; i += 32) {
    for (let j = 0; j < 16; j++) dst[o + i / 2 + j] = L[i + j]! | (L[i + 16 + j]! << 4);
  }
}

function quantizeRowIq4Nl(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  for (let b = 0; b < n; b += 32, o += 18) {
    quantizeSuperBlock(32, x, xo + b, qw, b, dst, o);
    packNibbles(32, dst, o + 2);
  }
}

function quantizeRowIq4Xs(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  for (let b = 0; b < n; b += 256, o += 136) {
    quantizeSuperBlock(256, x, xo + b, qw, b, dst, o);
    packNibbles(256, dst, o + 8);
  }
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
