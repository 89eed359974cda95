/**
 * ggml's 3-bit grid i-quants. Each group of 4 values is one point of a 4-dimensional lattice times a 32-value
 * sub-block scale, with per-value signs; 256-value super-blocks with one fp16 d.
 *
 *   IQ3_XXS  98 B: fp16 d, qs[64] (8-bit grid indices, 256-point grid of bytes 4..62), then per 32 values a
 *                  uint32: four 7-bit sign patterns (ksigns_iq2xs, even parity) | 4-bit scale s << 28.
 *                  x = d * (0.5 + s) * 0.5 * grid * sign
 *   IQ3_S   110 B: fp16 d, qs[64] (low 8 bits of 9-bit indices into a 512-point grid of odd bytes 1..15),
 *                  qh[8] (the ninth bits), signs[32] (all 8 signs), scales[4] (two 4-bit s per byte).
 *                  x = d * (1 + 2s) * grid * sign
 *
 * Quantizers: quantize_row_iq3_xxs_impl (grid 256) and quantize_row_iq3_s_impl; weights x^2, or with an
 * importance matrix imatrix * sqrt(2*mean(x^2) + x^2). Byte-exact with ggml_quantize_chunk.
 */
import { loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { fitGridScale, foldSigns, foldSignsEvenParity, type GridFit, gridIndex } from "./iq-grid-search.js";
import { IQ3S_LATTICE, IQ3XXS_LATTICE, KSIGNS_IQ2XS } from "./iq-grids.js";
import { clampScaleCode, iqWeights, squareWeights, sumSquares } from "./iq-weights.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;
const QK_K = 256;
const KMAXQ = 8;
const F0_2 = fr(0.2);
const GROUP_MAX_EPS_IQ3_XXS = fr(1e-8);

const weight = new Float32Array(32);
const waux = new Float32Array(32);
const xval = new Float32Array(32);
const L = new Int8Array(32);
const scales = new Float32Array(8);
const signs = new Uint8Array(4);

/** Weights of the 32 values at x[xb] (imatrix offset qo within the row) and their square roots. */
function subBlockWeights(x: Float32Array, xb: number, qw: Float32Array | undefined, qo: number, sigma2: number): void {
  if (qw) iqWeights(x, xb, qw, qo, 32, sigma2, weight);
  else squareWeights(x, xb, 32, weight);
  for (let i = 0; i < 32; i++) waux[i] = fr(Math.sqrt(weight[i]!));
}

function maxOf32(v: Float32Array): number {
  let max = v[0]!;
  for (let i = 1; i < 32; i++) max = max > v[i]! ? max : v[i]!;
  return max;
}

// ---------------------------------------------------------------- IQ3_XXS

const FIT_XXS: GridFit = { lattice: IQ3XXS_LATTICE, n: 32, kMaxQ: KMAXQ, isRange: 15, isStep: F0_2, refit: "offGridOnly", initialOnGrid: true };

function quantizeRowIq3Xxs(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  for (let b = 0; b < n; b += QK_K, o += 98) {
    const base = xo + b;
    dst.fill(0, o, o + 98);
    const sigma2 = fr(fr(2 * sumSquares(x, base)) / QK_K);
    const signWords = o + 2 + 64;
    let maxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const xb = base + 32 * ib;
      subBlockWeights(x, xb, qw, b + 32 * ib, sigma2);
      for (let k = 0; k < 4; k++) signs[k] = foldSignsEvenParity(x, xb + 8 * k, weight, xval, 8 * k);
      const max = maxOf32(xval);
      L.fill(0);
      if (max < GROUP_MAX_EPS_IQ3_XXS) {
        scales[ib] = 0;
        continue;
      }
      let scale = fitGridScale(FIT_XXS, xval, weight, waux, L, max, fr(max / (2 * KMAXQ - 1)));
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) signs[k] = ~signs[k]! & 127;
      }
      for (let k = 0; k < 8; k++) dst[o + 2 + 8 * ib + k] = gridIndex(IQ3XXS_LATTICE, L, k);
      const w = signWords + 4 * ib;
      dst[w] = signs[0]! | (signs[1]! << 7);
      dst[w + 1] = (signs[1]! >> 1) | (signs[2]! << 6);
      dst[w + 2] = (signs[2]! >> 2) | (signs[3]! << 5);
      dst[w + 3] = signs[3]! >> 3;
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) {
      dst.fill(0, o, o + 98);
      continue;
    }
    const d = fr(maxScale / 31);
    storeF16(dst, o, fr(d * fr(1.0125)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib++) dst[signWords + 4 * ib + 3] |= clampScaleCode(id, scales[ib]!, 15) << 4;
  }
}

function dequantizeIq3Xxs(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ3XXS_LATTICE.values;
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 98;
    const d = loadF16(src, o);
    for (let ib = 0; ib < 8; ib++) {
      const w = o + 66 + 4 * ib;
      const aux = (src[w]! | (src[w + 1]! << 8) | (src[w + 2]! << 16) | (src[w + 3]! << 24)) >>> 0;
      const db = fr(fr(d * (0.5 + (aux >>> 28))) * 0.5);
      const q = o + 2 + 8 * ib;
      for (let l = 0; l < 4; l++) {
        const s = KSIGNS_IQ2XS[(aux >>> (7 * l)) & 127]!;
        const g1 = src[q + 2 * l]! * 4;
        const g2 = src[q + 2 * l + 1]! * 4;
        for (let j = 0; j < 4; j++) {
          const v = fr(db * values[g1 + j]!);
          out[y + j] = s & (1 << j) ? -v : v;
          const v2 = fr(db * values[g2 + j]!);
          out[y + j + 4] = s & (1 << (j + 4)) ? -v2 : v2;
        }
        y += 8;
      }
    }
  }
}

// ---------------------------------------------------------------- IQ3_S

const FIT_S: GridFit = { lattice: IQ3S_LATTICE, n: 32, kMaxQ: KMAXQ, isRange: 9, isStep: F0_2, refit: "allIfOffGrid", initialOnGrid: false };

function quantizeRowIq3S(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  for (let b = 0; b < n; b += QK_K, o += 110) {
    const base = xo + b;
    dst.fill(0, o, o + 110);
    const sigma2 = fr(fr(2 * sumSquares(x, base)) / QK_K);
    // ggml advances its qs and signs pointers only for sub-blocks it encodes: after an all-zero sub-block the
    // following ones are written one slot early (and the last slots stay zero). Reproduced for identical bytes.
    let qs = o + 2;
    let sg = o + 74;
    let maxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const xb = base + 32 * ib;
      subBlockWeights(x, xb, qw, b + 32 * ib, sigma2);
      for (let k = 0; k < 4; k++) signs[k] = foldSigns(x, xb + 8 * k, xval, 8 * k);
      const max = maxOf32(xval);
      L.fill(0);
      if (!max) {
        scales[ib] = 0;
        continue;
      }
      let scale = fitGridScale(FIT_S, xval, weight, waux, L, max, fr(max / (2 * KMAXQ - 1)));
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) signs[k] = ~signs[k]! & 255;
      }
      for (let k = 0; k < 8; k++) {
        const index = gridIndex(IQ3S_LATTICE, L, k);
        dst[qs + k] = index & 255;
        dst[o + 66 + ib] |= (index >> 8) << k;
      }
      qs += 8;
      for (let k = 0; k < 4; k++) dst[sg + k] = signs[k]!;
      sg += 4;
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) continue;
    const d = fr(maxScale / 31);
    storeF16(dst, o, fr(d * fr(1.033)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib += 2) dst[o + 106 + ib / 2] = clampScaleCode(id, scales[ib]!, 15) | (clampScaleCode(id, scales[ib + 1]!, 15) << 4);
  }
}

function dequantizeIq3S(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ3S_LATTICE.values;
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 110;
    const d = loadF16(src, o);
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[o + 106 + (ib >> 1)]!;
      const db = fr(d * (1 + 2 * (ib & 1 ? sc >> 4 : sc & 0xf)));
      const qh = src[o + 66 + ib]!;
      const q = o + 2 + 8 * ib;
      for (let l = 0; l < 4; l++) {
        const s = src[o + 74 + 4 * ib + l]!;
        const g1 = (src[q + 2 * l]! | (((qh >> (2 * l)) & 1) << 8)) * 4;
        const g2 = (src[q + 2 * l + 1]! | (((qh >> (2 * l + 1)) & 1) << 8)) * 4;
        for (let j = 0; j < 4; j++) {
          const v = fr(db * values[g1 + j]!);
          out[y + j] = s & (1 << j) ? -v : v;
          const v2 = fr(db * values[g2 + j]!);
          out[y + j + 4] = s & (1 << (j + 4)) ? -v2 : v2;
        }
        y += 8;
      }
    }
  }
}

export const iq3XxsCodec = defineBlockCodec({ name: "IQ3_XXS", quantizeRow: quantizeRowIq3Xxs, dequantize: dequantizeIq3Xxs });
export const iq3SCodec = defineBlockCodec({ name: "IQ3_S", quantizeRow: quantizeRowIq3S, dequantize: dequantizeIq3S });

registerCodec(iq3XxsCodec);
registerCodec(iq3SCodec);
