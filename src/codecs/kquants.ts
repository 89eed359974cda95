/**
 * ggml's k-quants: 256-value super-blocks split into 16 or 32-value sub-blocks whose scales (and mins) are
 * themselves quantized against one fp16 super-block scale. Byte-exact with ggml_quantize_chunk and to_float.
 *
 *   Q2_K  84 B: scales[16] (4-bit scale | 4-bit min << 4), qs[64] (2-bit), fp16 d, fp16 dmin
 *   Q3_K 110 B: hmask[32] (3rd bit), qs[64] (low 2 bits), scales[12] (16 x 6-bit, offset 32), fp16 d
 *   Q4_K 144 B: fp16 d, fp16 dmin, scales[12] (8 x 6-bit scale + 8 x 6-bit min), qs[128] (4-bit)
 *   Q5_K 176 B: fp16 d, fp16 dmin, scales[12], qh[32] (5th bit), qs[128]
 *   Q6_K 210 B: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16], fp16 d
 *
 * Without an importance matrix each type uses its reference quantizer (quantize_row_*_K_ref); with one, the
 * weighted searches of quantize_row_*_K_impl (weights imatrix[j] * sqrt(sigma2 + x[j]^2)).
 */
import { nearestInt } from "../numeric/float32-ops.js";
import { loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { GROUP_MAX_EPS } from "./ggml-search.js";
import { makeQ3QuantsBatch, makeQkxQuantsBatch, makeQpQuantsBatch, makeQxQuantsBatch, requantizeGroups } from "./ggml-search-batch.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;
const QK_K = 256;

// Scratch shared by the quantizers (codecs run synchronously).
const Ls8 = new Int8Array(QK_K);
const scales = new Float32Array(16);
const mins = new Float32Array(16);
const Ls = new Uint8Array(16);
const Lm = new Uint8Array(16);

/**
 * Row-wide scratch: the sub-block searches and the last rounding of each type run batched over a whole row.
 * Weights and levels per value; scale, min and weight sum per sub-block. Grown to the longest row seen.
 */
const row = {
  weights: new Float32Array(0),
  levels: new Uint8Array(0),
  scales: new Float32Array(0),
  mins: new Float32Array(0),
  sw: new Float32Array(0),
  /** Stored sub-block scale and min (as an offset added to x) that the last rounding uses. */
  d: new Float32Array(0),
  m: new Float32Array(0),
  /** With an importance matrix: the sub-block scale and min codes, and per super-block their scales. */
  scaleCodes: new Uint8Array(0),
  minCodes: new Uint8Array(0),
  blockScale: new Float32Array(0),
  blockMin: new Float32Array(0),
};

function growRowScratch(n: number): void {
  if (row.weights.length >= n) return;
  row.weights = new Float32Array(n);
  row.levels = new Uint8Array(n);
  row.scales = new Float32Array(n / 16);
  row.mins = new Float32Array(n / 16);
  row.sw = new Float32Array(n / 16);
  row.d = new Float32Array(n / 16);
  row.m = new Float32Array(n / 16);
  row.scaleCodes = new Uint8Array(n / 16);
  row.minCodes = new Uint8Array(n / 16);
  row.blockScale = new Float32Array(n / QK_K);
  row.blockMin = new Float32Array(n / QK_K);
}

/**
 * The super-block scales of the imatrix k-quants: make_qp_quants (weights: the sub-blocks' weight sums) on the
 * sub-block scales and on the mins of every super-block of the row, `per` sub-blocks each.
 */
function quantizeSubBlockScales(n: number, per: number): void {
  const blocks = n / QK_K;
  makeQpQuantsBatch(blocks, per, per === 16 ? 15 : 63, row.scales, row.sw, row.scaleCodes, row.blockScale);
  makeQpQuantsBatch(blocks, per, per === 16 ? 15 : 63, row.mins, row.sw, row.minCodes, row.blockMin);
}

/** Sum of x^2 over a super-block, accumulated in float32 in order. */
function sumSquares(x: Float32Array, xo: number): number {
  let s = 0;
  for (let j = 0; j < QK_K; j++) s = fr(s + fr(x[xo + j]! * x[xo + j]!));
  return s;
}

/** Importance weights qw[j] * sqrt(sigma2 + x[j]^2) of `n` values into out[oo..oo+n); returns their float sum. */
function imatrixWeights(x: Float32Array, xo: number, qw: Float32Array, qwo: number, n: number, sigma2: number, out: Float32Array, oo: number): number {
  let sum = 0;
  for (let l = 0; l < n; l++) {
    const xl = x[xo + l]!;
    const w = fr(qw[qwo + l]! * fr(Math.sqrt(fr(sigma2 + fr(xl * xl)))));
    out[oo + l] = w;
    sum = fr(sum + w);
  }
  return sum;
}

/** 2-bit packing of Q2_K/Q3_K: byte l of each 32-byte group holds values l, l+32, l+64, l+96 of a 128-half. */
function pack2Bit(levels: Uint8Array | Int8Array, lo: number, dst: Uint8Array, o: number): void {
  for (let j = lo; j < lo + QK_K; j += 128) {
    for (let l = 0; l < 32; l++) {
      dst[o + l] = levels[j + l]! | (levels[j + l + 32]! << 2) | (levels[j + l + 64]! << 4) | (levels[j + l + 96]! << 6);
    }
    o += 32;
  }
}

// ---------------------------------------------------------------- Q2_K

function quantizeRowQ2K(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  // The 16-value sub-block searches of the whole row run as one batch.
  growRowScratch(n);
  const { weights: rowWeights, levels: rowLevels, scales: rowScales, mins: rowMins, sw: rowSw } = row;
  for (let b = 0; b < n; b += QK_K) {
    const base = xo + b;
    if (qw) {
      const sigma2 = fr(sumSquares(x, base) / QK_K);
      for (let j = 0; j < 16; j++) rowSw[b / 16 + j] = imatrixWeights(x, base + 16 * j, qw, b + 16 * j, 16, sigma2, rowWeights, b + 16 * j);
    }
  }
  if (qw) {
    makeQkxQuantsBatch(n / 16, 16, 3, x, xo, rowWeights, rowLevels, 0, rowScales, rowMins, fr(-0.9), fr(0.05), 36, false);
    quantizeSubBlockScales(n, 16);
  } else {
    makeQkxQuantsBatch(n / 16, 16, 3, x, xo, "abs", rowLevels, 0, rowScales, rowMins, fr(-0.5), fr(0.1), 15, true);
  }
  const o0 = o;
  for (let b = 0; b < n; b += QK_K, o += 84) {
    for (let j = 0; j < 16; j++) {
      scales[j] = rowScales[b / 16 + j]!;
      mins[j] = rowMins[b / 16 + j]!;
    }
    if (qw) {
      storeF16(dst, o + 80, row.blockScale[b / QK_K]!);
      storeF16(dst, o + 82, row.blockMin[b / QK_K]!);
      for (let j = 0; j < 16; j++) dst[o + j] = row.scaleCodes[b / 16 + j]! | (row.minCodes[b / 16 + j]! << 4);
    } else {
      let maxScale = 0;
      let maxMin = 0;
      for (let j = 0; j < 16; j++) {
        if (scales[j]! > maxScale) maxScale = scales[j]!;
        if (mins[j]! > maxMin) maxMin = mins[j]!;
      }
      if (maxScale > 0) {
        const iscale = fr(15 / maxScale);
        for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(fr(iscale * scales[j]!));
        storeF16(dst, o + 80, fr(maxScale / 15));
      } else {
        for (let j = 0; j < 16; j++) dst[o + j] = 0;
        storeF16(dst, o + 80, 0);
      }
      if (maxMin > 0) {
        const iscale = fr(15 / maxMin);
        for (let j = 0; j < 16; j++) dst[o + j] |= nearestInt(fr(iscale * mins[j]!)) << 4;
        storeF16(dst, o + 82, fr(maxMin / 15));
      } else {
        storeF16(dst, o + 82, 0);
      }
    }
    const dm = loadF16(dst, o + 80);
    const mm = loadF16(dst, o + 82);
    for (let j = 0; j < 16; j++) {
      const sc = dst[o + j]!;
      row.d[b / 16 + j] = fr(dm * (sc & 15));
      row.m[b / 16 + j] = fr(mm * (sc >>> 4));
    }
  }
  // Re-round every value against the stored (quantized) sub-block scale and min; a sub-block whose scale is 0
  // keeps the search's levels.
  requantizeGroups(n / 16, 16, x, xo, row.m, row.d, 0, 3, 0, rowLevels, 0);
  for (let b = 0, o = o0; b < n; b += QK_K, o += 84) pack2Bit(rowLevels, b, dst, o + 16);
}

function dequantizeQ2K(src: Uint8Array, nb: number, out: Float32Array): void {
  let k = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 84) {
    const d = loadF16(src, o + 80);
    const min = loadF16(src, o + 82);
    let is = 0;
    for (let q = o + 16; q < o + 80; q += 32) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let half = 0; half < 32; half += 16) {
          const sc = src[o + is++]!;
          const dl = fr(d * (sc & 15));
          const ml = fr(min * (sc >>> 4));
          for (let l = 0; l < 16; l++) out[k++] = fr(dl * ((src[q + half + l]! >>> shift) & 3)) - ml;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Q3_K

/** Packs 16 six-bit scale codes (0..63) into Q3_K's 12 bytes at dst[o]. */
function packQ3Scales(codes: ArrayLike<number>, dst: Uint8Array, o: number): void {
  for (let j = 0; j < 12; j++) dst[o + j] = 0;
  for (let j = 0; j < 16; j++) {
    const l = codes[j]!;
    if (j < 8) dst[o + j] = l & 15;
    else dst[o + j - 8] |= (l & 15) << 4;
    dst[o + 8 + (j % 4)] |= (l >>> 4) << (2 * (j >>> 2));
  }
}

/** Signed scale of Q3_K sub-block j (code - 32) from the 12 bytes at src[o]. */
function q3Scale(src: Uint8Array, o: number, j: number): number {
  const low = j < 8 ? src[o + j]! & 15 : src[o + j - 8]! >>> 4;
  return (low | (((src[o + 8 + (j % 4)]! >>> (2 * (j >>> 2))) & 3) << 4)) - 32;
}

const q3Codes = new Uint8Array(16);

function quantizeRowQ3K(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  growRowScratch(n);
  if (qw) {
    // With an importance matrix the 16-value sub-block searches of the whole row run as one batch.
    for (let b = 0; b < n; b += QK_K) {
      const sigma2 = fr(fr(2 * sumSquares(x, xo + b)) / QK_K);
      for (let j = 0; j < 16; j++) row.sw[b / 16 + j] = imatrixWeights(x, xo + b + 16 * j, qw, b + 16 * j, 16, sigma2, row.weights, b + 16 * j);
    }
    makeQxQuantsBatch(n / 16, 16, 4, x, xo, row.weights, 0, row.levels, 0, row.scales, 0);
    // The 6-bit sub-block scale codes: make_qx_quants on each super-block's 16 scales, weighted by their sums.
    makeQxQuantsBatch(n / QK_K, 16, 32, row.scales, 0, row.sw, 0, row.scaleCodes, 0, row.blockScale, 0);
  } else {
    makeQ3QuantsBatch(n / 16, 4, x, xo, row.levels, 0, row.scales);
  }
  const o0 = o;
  for (let b = 0; b < n; b += QK_K, o += 110) {
    if (qw) {
      packQ3Scales(row.scaleCodes.subarray(b / 16, b / 16 + 16), dst, o + 96);
      storeF16(dst, o + 108, row.blockScale[b / QK_K]!);
    } else {
      let maxScale = 0;
      let amax = 0;
      for (let j = 0; j < 16; j++) {
        scales[j] = row.scales[b / 16 + j]!;
        const scale = Math.abs(scales[j]!);
        if (scale > amax) {
          amax = scale;
          maxScale = scales[j]!;
        }
      }
      if (maxScale) {
        const iscale = fr(-32 / maxScale);
        for (let j = 0; j < 16; j++) q3Codes[j] = Math.max(-32, Math.min(31, nearestInt(fr(iscale * scales[j]!)))) + 32;
        packQ3Scales(q3Codes, dst, o + 96);
        storeF16(dst, o + 108, fr(1 / iscale));
      } else {
        for (let j = 0; j < 12; j++) dst[o + 96 + j] = 0;
        storeF16(dst, o + 108, 0);
      }
    }
    const dAll = loadF16(dst, o + 108);
    for (let j = 0; j < 16; j++) row.d[b / 16 + j] = fr(dAll * q3Scale(dst, o + 96, j));
  }
  // Re-round every value against its stored sub-block scale (levels 0..7); a sub-block whose scale is 0 keeps
  // the search's levels.
  requantizeGroups(n / 16, 16, x, xo, null, row.d, -4, 3, 4, row.levels, 0);
  for (let b = 0, o = o0; b < n; b += QK_K, o += 110) {
    for (let j = 0; j < QK_K; j++) Ls8[j] = row.levels[b + j]!;
    // The third bit of value j goes to bit (j / 32) of hmask[j % 32].
    for (let m = 0; m < 32; m++) dst[o + m] = 0;
    for (let j = 0; j < QK_K; j++) {
      if (Ls8[j]! > 3) {
        dst[o + (j & 31)] |= 1 << (j >>> 5);
        Ls8[j]! -= 4;
      }
    }
    pack2Bit(Ls8, 0, dst, o + 32);
  }
}

function dequantizeQ3K(src: Uint8Array, nb: number, out: Float32Array): void {
  let k = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 110) {
    const dAll = loadF16(src, o + 108);
    let is = 0;
    let m = 1;
    for (let q = o + 32; q < o + 96; q += 32) {
      for (let shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (let half = 0; half < 32; half += 16) {
          const dl = fr(dAll * q3Scale(src, o + 96, is++));
          for (let l = 0; l < 16; l++) {
            const low = (src[q + half + l]! >>> shift) & 3;
            out[k++] = dl * (low - (src[o + half + l]! & m ? 0 : 4));
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Q4_K / Q5_K

/** Packs 8 six-bit scales and 8 six-bit mins into the 12 bytes at dst[o] (ggml's get_scale_min_k4 layout). */
function packScaleMinK4(ls: ArrayLike<number>, lm: ArrayLike<number>, dst: Uint8Array, o: number): void {
  for (let j = 0; j < 8; j++) {
    const s = ls[j]!;
    const m = lm[j]!;
    if (j < 4) {
      dst[o + j] = s;
      dst[o + j + 4] = m;
    } else {
      dst[o + j + 4] = (s & 15) | ((m & 15) << 4);
      dst[o + j - 4] |= (s >>> 4) << 6;
      dst[o + j] |= (m >>> 4) << 6;
    }
  }
}

/** Scale code of sub-block j (get_scale_min_k4). */
function scaleK4(q: Uint8Array, o: number, j: number): number {
  return j < 4 ? q[o + j]! & 63 : (q[o + j + 4]! & 15) | ((q[o + j - 4]! >>> 6) << 4);
}

/** Min code of sub-block j (get_scale_min_k4). */
function minK4(q: Uint8Array, o: number, j: number): number {
  return j < 4 ? q[o + j + 4]! & 63 : (q[o + j + 4]! >>> 4) | ((q[o + j]! >>> 6) << 4);
}

/**
 * Scales, mins and levels of the Q4_K/Q5_K super-blocks of a row (nmax 15 or 31): the 32-value sub-block
 * searches of the whole row run as one batch; then per super-block d, dmin and the 12 scale bytes go to
 * dst[o + 144 or 176 per block], and the final levels to row.levels.
 */
function quantizeRowK4(x: Float32Array, xo: number, n: number, nmax: number, dst: Uint8Array, o: number, blockBytes: number, qw: Float32Array | undefined): void {
  growRowScratch(n);
  const { weights: rowWeights, levels: rowLevels, scales: rowScales, mins: rowMins, sw: rowSw } = row;
  if (qw) {
    for (let b = 0; b < n; b += QK_K) {
      const sigma2 = fr(fr(2 * sumSquares(x, xo + b)) / QK_K);
      for (let j = 0; j < 8; j++) rowSw[b / 32 + j] = imatrixWeights(x, xo + b + 32 * j, qw, b + 32 * j, 32, sigma2, rowWeights, b + 32 * j);
    }
    makeQkxQuantsBatch(n / 32, 32, nmax, x, xo, rowWeights, rowLevels, 0, rowScales, rowMins, fr(-0.9), fr(0.05), 36, false);
    quantizeSubBlockScales(n, 8);
  } else if (nmax === 15) {
    // Weights sqrt(mean x^2) + |x| per sub-block (computed with the search).
    makeQkxQuantsBatch(n / 32, 32, 15, x, xo, "rmsAbs", rowLevels, 0, rowScales, rowMins, -1, fr(0.1), 20, false);
  } else {
    makeQkxQuantsBatch(n / 32, 32, 31, x, xo, "rmsAbs", rowLevels, 0, rowScales, rowMins, fr(-0.5), fr(0.1), 15, false);
  }
  for (let b = 0; b < n; b += QK_K, o += blockBytes) {
    for (let j = 0; j < 8; j++) {
      scales[j] = rowScales[b / 32 + j]!;
      mins[j] = rowMins[b / 32 + j]!;
    }
    if (qw) {
      const dBlock = row.blockScale[b / QK_K]!;
      const mBlock = row.blockMin[b / QK_K]!;
      for (let j = 0; j < 8; j++) {
        Ls[j] = row.scaleCodes[b / 32 + j]!;
        Lm[j] = row.minCodes[b / 32 + j]!;
      }
      if (nmax === 31) {
        // quantize_row_q5_K_impl clamps the codes; the Q4_K one packs them as they are.
        for (let j = 0; j < 8; j++) {
          Ls[j] = Math.min(63, Ls[j]!);
          Lm[j] = Math.min(63, Lm[j]!);
        }
      }
      packScaleMinK4(Ls, Lm, dst, o + 4);
      storeF16(dst, o, dBlock);
      storeF16(dst, o + 2, mBlock);
    } else {
      let maxScale = 0;
      let maxMin = 0;
      for (let j = 0; j < 8; j++) {
        if (scales[j]! > maxScale) maxScale = scales[j]!;
        if (mins[j]! > maxMin) maxMin = mins[j]!;
      }
      const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
      const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
      for (let j = 0; j < 8; j++) {
        // uint8_t conversion, then MIN(63, .)
        Ls[j] = Math.min(63, nearestInt(fr(invScale * scales[j]!)) & 255);
        Lm[j] = Math.min(63, nearestInt(fr(invMin * mins[j]!)) & 255);
      }
      packScaleMinK4(Ls, Lm, dst, o + 4);
      storeF16(dst, o, fr(maxScale / 63));
      storeF16(dst, o + 2, fr(maxMin / 63));
    }
    const dAll = loadF16(dst, o);
    const mAll = loadF16(dst, o + 2);
    for (let j = 0; j < 8; j++) {
      row.d[b / 32 + j] = fr(dAll * scaleK4(dst, o + 4, j));
      row.m[b / 32 + j] = fr(mAll * minK4(dst, o + 4, j));
    }
  }
  // Re-round every value against the stored sub-block scale and min; a sub-block whose scale is 0 keeps the
  // search's levels.
  requantizeGroups(n / 32, 32, x, xo, row.m, row.d, 0, nmax, 0, rowLevels, 0);
}

function quantizeRowQ4K(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  quantizeRowK4(x, xo, n, 15, dst, o, 144, qw);
  const levels = row.levels;
  for (let b = 0; b < n; b += QK_K, o += 144) {
    for (let j = b, q = o + 16; j < b + QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) dst[q + l] = levels[j + l]! | (levels[j + l + 32]! << 4);
    }
  }
}

function quantizeRowQ5K(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  quantizeRowK4(x, xo, n, 31, dst, o, 176, qw);
  const levels = row.levels;
  for (let b = 0; b < n; b += QK_K, o += 176) {
    const qh = o + 16;
    for (let j = 0; j < 32; j++) dst[qh + j] = 0;
    // Values j and j+32 of each 64-group share a byte of low nibbles; their 5th bits go to bits 2g, 2g+1 of qh[j].
    for (let g = 0, ql = o + 48; g < 4; g++, ql += 32) {
      for (let j = 0; j < 32; j++) {
        const l1 = levels[b + 64 * g + j]!;
        const l2 = levels[b + 64 * g + j + 32]!;
        dst[qh + j] |= ((l1 >>> 4) << (2 * g)) | ((l2 >>> 4) << (2 * g + 1));
        dst[ql + j] = (l1 & 15) | ((l2 & 15) << 4);
      }
    }
  }
}

function dequantizeQ4K(src: Uint8Array, nb: number, out: Float32Array): void {
  let k = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 144) {
    const d = loadF16(src, o);
    const min = loadF16(src, o + 2);
    for (let g = 0, q = o + 16; g < 4; g++, q += 32) {
      const d1 = fr(d * scaleK4(src, o + 4, 2 * g));
      const m1 = fr(min * minK4(src, o + 4, 2 * g));
      const d2 = fr(d * scaleK4(src, o + 4, 2 * g + 1));
      const m2 = fr(min * minK4(src, o + 4, 2 * g + 1));
      for (let l = 0; l < 32; l++) out[k++] = fr(d1 * (src[q + l]! & 15)) - m1;
      for (let l = 0; l < 32; l++) out[k++] = fr(d2 * (src[q + l]! >>> 4)) - m2;
    }
  }
}

function dequantizeQ5K(src: Uint8Array, nb: number, out: Float32Array): void {
  let k = 0;
  for (let i = 0, o = 0; i < nb; i++, o += 176) {
    const d = loadF16(src, o);
    const min = loadF16(src, o + 2);
    const qh = o + 16;
    for (let g = 0, q = o + 48; g < 4; g++, q += 32) {
      const d1 = fr(d * scaleK4(src, o + 4, 2 * g));
      const m1 = fr(min * minK4(src, o + 4, 2 * g));
      const d2 = fr(d * scaleK4(src, o + 4, 2 * g + 1));
      const m2 = fr(min * minK4(src, o + 4, 2 * g + 1));
      for (let l = 0; l < 32; l++) out[k++] = fr(d1 * ((src[q + l]! & 15) + (((src[qh + l]! >>> (2 * g)) & 1) << 4))) - m1;
      for (let l = 0; l < 32; l++) out[k++] = fr(d2 * ((src[q + l]! >>> 4) + (((src[qh + l]! >>> (2 * g + 1)) & 1) << 4))) - m2;
    }
  }
}

// ---------------------------------------------------------------- Q6_K

/** Per super-block of the row: whether Q6_K stored it as all zeros. */
let zeroBlock = new Uint8Array(0);

function quantizeRowQ6K(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  // The 16-value sub-block searches of the whole row run as one batch; weights are the importance matrix as
  // it is (quantize_row_q6_K_impl), or x^2 without one.
  growRowScratch(n);
  makeQxQuantsBatch(n / 16, 16, 32, x, xo, qw ?? null, 0, row.levels, 0, row.scales, 0);
  if (zeroBlock.length < n / QK_K) zeroBlock = new Uint8Array(n / QK_K);
  const o0 = o;
  for (let b = 0; b < n; b += QK_K, o += 210) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = row.scales[b / 16 + ib]!;
      scales[ib] = scale;
      const absScale = Math.abs(scale);
      if (absScale > maxAbsScale) {
        maxAbsScale = absScale;
        maxScale = scale;
      }
    }
    zeroBlock[b / QK_K] = maxAbsScale < GROUP_MAX_EPS ? 1 : 0;
    if (zeroBlock[b / QK_K]) {
      // ggml writes an all-zero block: nothing to round or pack.
      dst.fill(0, o, o + 210);
      row.d.fill(0, b / 16, b / 16 + 16);
      continue;
    }
    const iscale = fr(-128 / maxScale);
    storeF16(dst, o + 208, fr(1 / iscale));
    for (let ib = 0; ib < 16; ib++) dst[o + 192 + ib] = Math.min(127, nearestInt(fr(iscale * scales[ib]!)));
    const dAll = loadF16(dst, o + 208);
    for (let j = 0; j < 16; j++) row.d[b / 16 + j] = fr(dAll * ((dst[o + 192 + j]! << 24) >> 24));
  }
  // Re-round every value against its stored sub-block scale (levels 0..63); a sub-block whose scale is 0 keeps
  // the search's levels.
  requantizeGroups(n / 16, 16, x, xo, null, row.d, -32, 31, 32, row.levels, 0);
  const L = row.levels;
  for (let b = 0, o = o0; b < n; b += QK_K, o += 210) {
    if (zeroBlock[b / QK_K]) continue;
    // Each 128-half: ql[l] = low nibbles of values l and l+64, ql[l+32] of l+32 and l+96; qh[l] their top 2 bits.
    for (let j = b, ql = o, qh = o + 128; j < b + QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!, c = L[j + l + 32]!, e = L[j + l + 64]!, g = L[j + l + 96]!;
        dst[ql + l] = (a & 15) | ((e & 15) << 4);
        dst[ql + l + 32] = (c & 15) | ((g & 15) << 4);
        dst[qh + l] = (a >>> 4) | ((c >>> 4) << 2) | ((e >>> 4) << 4) | ((g >>> 4) << 6);
      }
    }
  }
}

function dequantizeQ6K(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let i = 0, o = 0, y = 0; i < nb; i++, o += 210) {
    const d = loadF16(src, o + 208);
    for (let half = 0, ql = o, qh = o + 128, sc = o + 192; half < 2; half++, ql += 64, qh += 32, sc += 8, y += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >>> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 15) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 15) | (((h >>> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
        out[y + l] = fr(d * ((src[sc + is]! << 24) >> 24)) * q1;
        out[y + l + 32] = fr(d * ((src[sc + is + 2]! << 24) >> 24)) * q2;
        out[y + l + 64] = fr(d * ((src[sc + is + 4]! << 24) >> 24)) * q3;
        out[y + l + 96] = fr(d * ((src[sc + is + 6]! << 24) >> 24)) * q4;
      }
    }
  }
}

export const q2KCodec = defineBlockCodec({ name: "Q2_K", quantizeRow: quantizeRowQ2K, dequantize: dequantizeQ2K });
export const q3KCodec = defineBlockCodec({ name: "Q3_K", quantizeRow: quantizeRowQ3K, dequantize: dequantizeQ3K });
export const q4KCodec = defineBlockCodec({ name: "Q4_K", quantizeRow: quantizeRowQ4K, dequantize: dequantizeQ4K });
export const q5KCodec = defineBlockCodec({ name: "Q5_K", quantizeRow: quantizeRowQ5K, dequantize: dequantizeQ5K });
export const q6KCodec = defineBlockCodec({ name: "Q6_K", quantizeRow: quantizeRowQ6K, dequantize: dequantizeQ6K });

for (const c of [q2KCodec, q3KCodec, q4KCodec, q5KCodec, q6KCodec]) registerCodec(c);
