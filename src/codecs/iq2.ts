/**
 * ggml's 2-bit grid i-quants. Each group of 8 values is one point of an 8-dimensional lattice (byte values
 * 8, 25, 43) times a sub-block scale, with per-value signs; 256-value super-blocks with one fp16 d.
 *
 *   IQ2_XXS 66 B: fp16 d, then per 32 values two uint32: four 8-bit grid indices | four 7-bit sign patterns
 *                 (ksigns_iq2xs, even parity) in bits 0..27 and a 4-bit scale s in bits 28..31.
 *                 x = d * (0.5 + s) * 0.25 * grid * sign
 *   IQ2_XS  74 B: fp16 d, qs[32] uint16 (9-bit grid index | 7-bit sign pattern << 9), scales[8] (two 4-bit
 *                 scales per 32 values, one per 16)
 *   IQ2_S   82 B: fp16 d, qs[32] (low 8 bits of 10-bit grid indices), signs[32] (all 8 signs), qh[8] (two high
 *                 bits per index), scales[8]
 *
 * Quantizers: quantize_row_iq2_xxs_impl, quantize_row_iq2_xs_impl, quantize_row_iq2_s_impl. IQ2_XXS and IQ2_XS
 * require an importance matrix; IQ2_S falls back to weights sigma2/4 + x^2. Byte-exact with ggml_quantize_chunk.
 */
import { nearestInt } from "../numeric/float32-ops.js";
import { loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { GROUP_MAX_EPS, makeQpQuants } from "./ggml-search.js";
import { fitGridScale, foldSigns, foldSignsEvenParity, type GridFit, gridIndex } from "./iq-grid-search.js";
import { IQ2S_LATTICE, IQ2XS_LATTICE, IQ2XXS_LATTICE, type IqLattice, KSIGNS_IQ2XS } from "./iq-grids.js";
import { clampScaleCode, iqWeights, sumSquares } from "./iq-weights.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;
const QK_K = 256;
const KMAXQ = 3;
const F0_1 = fr(0.1);
const GROUP_MAX_EPS_IQ2_S = fr(1e-8);

const weight = new Float32Array(32);
const waux = new Float32Array(32);
const xval = new Float32Array(32);
const L = new Int8Array(32);
const Lqp = new Uint8Array(32);
const scales = new Float32Array(16);
const signs = new Uint8Array(4);

/** sqrt of each weight: the neighbour search weighs squared distances with these. */
function sqrtWeights(n: number): void {
  for (let i = 0; i < n; i++) waux[i] = fr(Math.sqrt(weight[i]!));
}

function writeU32(dst: Uint8Array, o: number, v: number): void {
  dst[o] = v;
  dst[o + 1] = v >>> 8;
  dst[o + 2] = v >>> 16;
  dst[o + 3] = v >>> 24;
}

// ---------------------------------------------------------------- IQ2_XXS

const FIT_XXS: GridFit = { lattice: IQ2XXS_LATTICE, n: 32, kMaxQ: KMAXQ, isRange: 6, isStep: F0_1, refit: "always", initialOnGrid: true };

function quantizeRowIq2Xxs(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  if (!qw) throw new Error("IQ2_XXS needs an importance matrix");
  const q2 = new Uint32Array(16);
  for (let b = 0; b < n; b += QK_K, o += 66) {
    const base = xo + b;
    q2.fill(0);
    const sigma2 = fr(sumSquares(x, base) / QK_K);
    let maxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const xb = base + 32 * ib;
      iqWeights(x, xb, qw, b + 32 * ib, 32, sigma2, weight);
      sqrtWeights(32);
      for (let k = 0; k < 4; k++) signs[k] = foldSignsEvenParity(x, xb + 8 * k, weight, xval, 8 * k);
      let max = xval[0]!;
      for (let i = 1; i < 32; i++) max = max > xval[i]! ? max : xval[i]!;
      if (max < GROUP_MAX_EPS) {
        scales[ib] = 0;
        continue;
      }
      let scale = makeQpQuants(32, KMAXQ + 1, xval, Lqp, weight);
      const effMax = fr(scale * KMAXQ);
      if (effMax <= 0) {
        scales[ib] = 0;
        continue;
      }
      scale = fitGridScale(FIT_XXS, xval, weight, waux, L, effMax, scale);
      if (scale < 0) {
        scale = -scale;
        for (let k = 0; k < 4; k++) signs[k] = ~signs[k]! & 127;
      }
      let indices = 0;
      let signBits = 0;
      for (let k = 0; k < 4; k++) {
        indices |= gridIndex(IQ2XXS_LATTICE, L, k) << (8 * k);
        signBits |= signs[k]! << (7 * k);
      }
      q2[2 * ib] = indices;
      q2[2 * ib + 1] = signBits;
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) {
      dst.fill(0, o, o + 66);
      continue;
    }
    const d = fr(maxScale / 31);
    storeF16(dst, o, d);
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib++) q2[2 * ib + 1] = (q2[2 * ib + 1]! | (clampScaleCode(id, scales[ib]!, 15) << 28)) >>> 0;
    for (let j = 0; j < 16; j++) writeU32(dst, o + 2 + 4 * j, q2[j]!);
  }
}

function dequantizeIq2Xxs(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ2XXS_LATTICE.values;
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 66;
    const d = loadF16(src, o);
    for (let ib = 0; ib < 8; ib++) {
      const q = o + 2 + 8 * ib;
      const aux1 = (src[q + 4]! | (src[q + 5]! << 8) | (src[q + 6]! << 16) | (src[q + 7]! << 24)) >>> 0;
      const db = fr(fr(d * (0.5 + (aux1 >>> 28))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const g = src[q + l]! * 8;
        const s = KSIGNS_IQ2XS[(aux1 >>> (7 * l)) & 127]!;
        for (let j = 0; j < 8; j++) {
          const v = fr(db * values[g + j]!);
          out[y++] = s & (1 << j) ? -v : v;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- IQ2_XS and IQ2_S (16-value sub-blocks)

const FIT_XS: GridFit = { lattice: IQ2XS_LATTICE, n: 16, kMaxQ: KMAXQ, isRange: 9, isStep: F0_1, refit: "offGridOnly", initialOnGrid: true };
const FIT_S: GridFit = { lattice: IQ2S_LATTICE, n: 16, kMaxQ: KMAXQ, isRange: 9, isStep: F0_1, refit: "offGridOnly", initialOnGrid: true };

/** fitSubBlock16's result for a sub-block below the type's epsilon: ggml leaves its bytes zero. */
const SKIPPED = -1;

/**
 * Fits one 16-value sub-block (already folded into xval, weights set): returns its scale, leaving the levels
 * in L, or SKIPPED. A negative fit (impossible for non-negative data) flips the signs, as ggml does.
 */
function fitSubBlock16(fit: GridFit, eps: number, signMask: number): number {
  let max = xval[0]!;
  for (let i = 1; i < 16; i++) max = max > xval[i]! ? max : xval[i]!;
  L.fill(0, 0, 16);
  if (max < eps) return SKIPPED;
  let scale = fitGridScale(fit, xval, weight, waux, L, max, fr(max / (2 * KMAXQ - 1)));
  if (scale < 0) {
    scale = -scale;
    signs[0] = ~signs[0]! & signMask;
    signs[1] = ~signs[1]! & signMask;
  }
  return scale;
}

/** Two 4-bit sub-block scale codes per byte: low nibble for the even sub-block. */
function writeScales16(dst: Uint8Array, so: number, id: number): void {
  for (let ib = 0; ib < 16; ib += 2) {
    dst[so + ib / 2] = clampScaleCode(id, scales[ib]!, 15) | (clampScaleCode(id, scales[ib + 1]!, 15) << 4);
  }
}

function quantizeRowIq2Xs(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  if (!qw) throw new Error("IQ2_XS needs an importance matrix");
  for (let b = 0; b < n; b += QK_K, o += 74) {
    const base = xo + b;
    dst.fill(0, o, o + 74);
    const sigma2 = fr(sumSquares(x, base) / QK_K);
    let maxScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const xb = base + 16 * ib;
      iqWeights(x, xb, qw, b + 16 * ib, 16, sigma2, weight);
      sqrtWeights(16);
      for (let k = 0; k < 2; k++) signs[k] = foldSignsEvenParity(x, xb + 8 * k, weight, xval, 8 * k);
      const scale = fitSubBlock16(FIT_XS, GROUP_MAX_EPS, 127);
      if (scale === SKIPPED) {
        scales[ib] = 0;
        continue;
      }
      for (let k = 0; k < 2; k++) {
        const q = gridIndex(IQ2XS_LATTICE, L, k) | (signs[k]! << 9);
        const at = o + 2 + 2 * (2 * ib + k);
        dst[at] = q;
        dst[at + 1] = q >>> 8;
      }
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) {
      dst.fill(0, o, o + 74);
      continue;
    }
    const d = fr(maxScale / 31);
    storeF16(dst, o, d);
    writeScales16(dst, o + 66, fr(1 / d));
  }
}

function dequantizeIq2Xs(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ2XS_LATTICE.values;
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 74;
    const d = loadF16(src, o);
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[o + 66 + ib]!;
      const db0 = fr(fr(d * (0.5 + (sc & 0xf))) * 0.25);
      const db1 = fr(fr(d * (0.5 + (sc >> 4))) * 0.25);
      for (let l = 0; l < 4; l++) {
        const at = o + 2 + 2 * (4 * ib + l);
        const q = src[at]! | (src[at + 1]! << 8);
        const g = (q & 511) * 8;
        const s = KSIGNS_IQ2XS[q >> 9]!;
        const db = l < 2 ? db0 : db1;
        for (let j = 0; j < 8; j++) {
          const v = fr(db * values[g + j]!);
          out[y++] = s & (1 << j) ? -v : v;
        }
      }
    }
  }
}

function quantizeRowIq2S(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  for (let b = 0; b < n; b += QK_K, o += 82) {
    const base = xo + b;
    dst.fill(0, o, o + 82);
    const sigma2 = fr(fr(2 * sumSquares(x, base)) / QK_K);
    let maxScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const xb = base + 16 * ib;
      if (qw) iqWeights(x, xb, qw, b + 16 * ib, 16, sigma2, weight);
      else {
        const s4 = fr(0.25 * sigma2);
        for (let i = 0; i < 16; i++) weight[i] = fr(s4 + fr(x[xb + i]! * x[xb + i]!));
      }
      sqrtWeights(16);
      for (let k = 0; k < 2; k++) signs[k] = foldSigns(x, xb + 8 * k, xval, 8 * k);
      const scale = fitSubBlock16(FIT_S, GROUP_MAX_EPS_IQ2_S, 255);
      if (scale === SKIPPED) {
        scales[ib] = 0;
        continue;
      }
      for (let k = 0; k < 2; k++) {
        const i8 = 2 * ib + k;
        const index = gridIndex(IQ2S_LATTICE, L, k);
        dst[o + 2 + i8] = index & 255;
        dst[o + 66 + (i8 >> 2)] |= (index >> 8) << (2 * (i8 % 4));
        dst[o + 34 + i8] = signs[k]!;
      }
      scales[ib] = scale;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) continue;
    const d = fr(maxScale / 31);
    storeF16(dst, o, fr(d * fr(0.9875)));
    writeScales16(dst, o + 74, fr(1 / d));
  }
}

function dequantizeIq2S(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ2S_LATTICE.values;
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 82;
    const d = loadF16(src, o);
    for (let ib = 0; ib < 8; ib++) {
      const sc = src[o + 74 + ib]!;
      const db0 = fr(fr(d * (0.5 + (sc & 0xf))) * 0.25);
      const db1 = fr(fr(d * (0.5 + (sc >> 4))) * 0.25);
      const qh = src[o + 66 + ib]!;
      for (let l = 0; l < 4; l++) {
        const g = (src[o + 2 + 4 * ib + l]! | (((qh >> (2 * l)) & 3) << 8)) * 8;
        const s = src[o + 34 + 4 * ib + l]!;
        const db = l < 2 ? db0 : db1;
        for (let j = 0; j < 8; j++) {
          const v = fr(db * values[g + j]!);
          out[y++] = s & (1 << j) ? -v : v;
        }
      }
    }
  }
}

export const iq2XxsCodec = defineBlockCodec({ name: "IQ2_XXS", requiresImatrix: true, quantizeRow: quantizeRowIq2Xxs, dequantize: dequantizeIq2Xxs });
export const iq2XsCodec = defineBlockCodec({ name: "IQ2_XS", requiresImatrix: true, quantizeRow: quantizeRowIq2Xs, dequantize: dequantizeIq2Xs });
export const iq2SCodec = defineBlockCodec({ name: "IQ2_S", quantizeRow: quantizeRowIq2S, dequantize: dequantizeIq2S });

registerCodec(iq2XxsCodec);
registerCodec(iq2XsCodec);
registerCodec(iq2SCodec);
