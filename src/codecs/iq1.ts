/**
 * ggml's 1-bit grid i-quants: each group of 8 values is a point of a 2048-point grid of ternary 8-vectors
 * (-1, 0, 1), shifted by +-delta (0.125) and scaled per sub-block; 256-value super-blocks.
 *
 *   IQ1_S 50 B: fp16 d, qs[32] (low 8 bits of 11-bit grid indices), qh[8] uint16 per 32 values: three high
 *               index bits per group (bits 0..11), scale s (bits 12..14), delta sign (bit 15).
 *               x = d * (2s + 1) * (grid + delta)
 *   IQ1_M 56 B: qs[32], qh[16] (per 16 values: high index bits 0..2 and 4..6, delta signs 0x08 and 0x80),
 *               scales[8] as 4 uint16: twelve bits of four 3-bit sub-block scales each, and in their top
 *               nibbles the four nibbles of the fp16 super-block scale.
 *
 * Quantizers: quantize_row_iq1_s_impl (needs an importance matrix) and quantize_row_iq1_m_impl (weights x^2
 * without one). Both sort the sub-block's values (glibc's qsort is a stable merge sort for these sizes: equal
 * values keep their order, which a stable insertion sort reproduces) and try every split into three groups
 * (-1, 0, +1) with exact weighted least squares, then snap each 8-group to the grid.
 *
 * IQ1_M's split search is the one of the reference llama.cpp build (each split's sums re-added term by term in
 * sorted order). Later llama.cpp versions compute the same sums from per-half prefix sums, which rounds
 * differently and changes the output for some inputs.
 */
import { f16ToF32, f32ToF16, loadF16, storeF16 } from "../numeric/half.js";
import { codecWasm } from "./codec-wasm.js";
import { IQ1_DELTA, IQ1S_TABLE, IQ1S_TABLES } from "./iq1-module.js";
import { defineBlockCodec } from "./define.js";
import { bestNeighbour } from "./iq-grid-search.js";
import { IQ1S_LATTICE } from "./iq-grids.js";
import { clampScaleCode, FLT_MAX, iqWeights, squareWeights, sumSquares } from "./iq-weights.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;
const QK_K = 256;
const DELTA = IQ1_DELTA;
const GROUP_MAX_EPS_IQ1_S = fr(1e-12);
const GROUP_MAX_EPS_IQ1_M = fr(1e-7);
/** Values of levels 0, 1, 2 with the delta added (x_p) or subtracted (x_m). */
const X_P = Float32Array.of(-1 + DELTA, DELTA, 1 + DELTA);
const X_M = Float32Array.of(-1 - DELTA, -DELTA, 1 - DELTA);

const LEVELS = IQ1S_LATTICE.levels;
const weight = new Float32Array(32);
const idx = new Int32Array(32);
const L = new Int8Array(32);
const scales = new Float32Array(16);
const shifts = new Int8Array(16);
const index = new Int32Array(4);

/** idx[0..n) = 0..n-1 stably sorted by x[xb + i] ascending. */
function sortIndices(x: Float32Array, xb: number, n: number): void {
  for (let j = 0; j < n; j++) {
    const v = x[xb + j]!;
    let k = j;
    while (k > 0 && x[xb + idx[k - 1]!]! > v) {
      idx[k] = idx[k - 1]!;
      k--;
    }
    idx[k] = j;
  }
}

/** Grid index of group k of L, snapping it to the grid when off it; returns -1 - index for a snapped group. */
function snapToGrid(k: number, x: Float32Array, xb: number, scale: number, xx: Float32Array): number {
  let u = 0;
  for (let j = 0; j < 8; j++) u |= L[8 * k + j]! << (2 * j);
  const g = IQ1S_LATTICE.kmap[u]!;
  if (g >= 0) return g;
  return -1 - bestNeighbour(IQ1S_LATTICE, u, x, xb + 8 * k, weight, 8 * k, scale, xx, L, 8 * k);
}

/** Adds group k's least-squares terms for grid point g with values xx[level]*mult into sums. */
function addFit(sums: Float32Array, x: Float32Array, xb: number, k: number, g: number, xx: Float32Array, mult: number): void {
  let sumqx = sums[0]!;
  let sumq2 = sums[1]!;
  for (let j = 0; j < 8; j++) {
    const w = weight[8 * k + j]!;
    const q = fr(xx[LEVELS[g * 8 + j]!]! * mult);
    sumqx = fr(sumqx + fr(fr(w * q) * x[xb + 8 * k + j]!));
    sumq2 = fr(sumq2 + fr(fr(w * q) * q));
  }
  sums[0] = sumqx;
  sums[1] = sumq2;
}

function maxAbs(x: Float32Array, xb: number, n: number): number {
  let max = Math.abs(x[xb]!);
  for (let i = 1; i < n; i++) {
    const a = Math.abs(x[xb + i]!);
    max = max > a ? max : a;
  }
  return max;
}

/** Levels from the best split: sorted positions below i1 get 0, below i2 get 1, the rest 2. */
function levelsFromSplit(n: number, i1: number, i2: number): void {
  for (let j = 0; j < n; j++) L[idx[j]!] = j < i1 ? 0 : j < i2 ? 1 : 2;
}

const sums = new Float32Array(2);

// ---------------------------------------------------------------- IQ1_S

/** The chosen split of a split search: the scale at split[0]; i1, i2 and the shift choice at splitChoice[1..3]. */
const split = new Float32Array(4);
const splitChoice = new Int32Array(split.buffer);

const sumx = new Float32Array(33);
const sumw = new Float32Array(33);
/** Per split index: the level-0 (head) and level-2 (tail) terms of sum w*v*x (X) and sum w*v*v (Q), +delta then -delta. */
const headX = new Float64Array(66);
const headQ = new Float64Array(66);
const tailX = new Float64Array(66);
const tailQ = new Float64Array(66);

/**
 * IQ1_S's split search over sumx/sumw: every (i1, i2) with delta added and subtracted, keeping the first best
 * weighted least-squares score; leaves the scale at split[0] and i1, i2 and the shift (+1 / -1, 0 when none
 * fits) at splitChoice[1..3]. In the codec module where it runs (iq1-module.ts: the same operations in the
 * same order), else here.
 */
function splitSearch32(): void {
  // The level-0 terms depend on i1 only and the level-2 terms on i2 only: computed once per index.
  for (let i = 0; i <= 32; i++) {
    const s0 = fr(sumx[i]! - sumx[0]!);
    const w0 = fr(sumw[i]! - sumw[0]!);
    const s2 = fr(sumx[32]! - sumx[i]!);
    const w2 = fr(sumw[32]! - sumw[i]!);
    headX[i] = fr(s0 * X_P[0]!);
    headX[33 + i] = fr(s0 * X_M[0]!);
    headQ[i] = fr(fr(w0 * X_P[0]!) * X_P[0]!);
    headQ[33 + i] = fr(fr(w0 * X_M[0]!) * X_M[0]!);
    tailX[i] = fr(s2 * X_P[2]!);
    tailX[33 + i] = fr(s2 * X_M[2]!);
    tailQ[i] = fr(fr(w2 * X_P[2]!) * X_P[2]!);
    tailQ[33 + i] = fr(fr(w2 * X_M[2]!) * X_M[2]!);
  }
  const m = codecWasm();
  if (m) {
    const mem = m.f32(4 * IQ1S_TABLES.length * IQ1S_TABLE + 16);
    mem.fill(0, 0, IQ1S_TABLES.length * IQ1S_TABLE); // the padding past index 32
    // In IQ1S_TABLES order; the head and tail arrays hold +delta at [0, 33) and -delta at [33, 66).
    for (let i = 0; i <= 32; i++) {
      mem[i] = sumx[i]!;
      mem[IQ1S_TABLE + i] = sumw[i]!;
      for (let h = 0; h < 2; h++) {
        mem[(2 + h) * IQ1S_TABLE + i] = headX[33 * h + i]!;
        mem[(4 + h) * IQ1S_TABLE + i] = headQ[33 * h + i]!;
        mem[(6 + h) * IQ1S_TABLE + i] = tailX[33 * h + i]!;
        mem[(8 + h) * IQ1S_TABLE + i] = tailQ[33 * h + i]!;
      }
    }
    const outAt = IQ1S_TABLES.length * IQ1S_TABLE;
    m.kernels.iq1s_split!(m.base, m.base + 4 * outAt);
    split.set(mem.subarray(outAt, outAt + 4));
    return;
  }
  let bestScore = -FLT_MAX;
  let scale = 0;
  let besti1 = -1;
  let besti2 = -1;
  let bestShift = 0;
  for (let i1 = 0; i1 <= 32; i1++) {
    for (let i2 = i1; i2 <= 32; i2++) {
      const s1 = fr(sumx[i2]! - sumx[i1]!);
      const w1 = fr(sumw[i2]! - sumw[i1]!);
      for (let m = 0; m <= 33; m += 33) {
        const x1 = m === 0 ? X_P[1]! : X_M[1]!;
        const sumqx = fr(fr(headX[m + i1]! + fr(s1 * x1)) + tailX[m + i2]!);
        const sumq2 = fr(fr(headQ[m + i1]! + fr(fr(w1 * x1) * x1)) + tailQ[m + i2]!);
        if (sumq2 > 0 && fr(sumqx * sumqx) > fr(bestScore * sumq2)) {
          scale = fr(sumqx / sumq2);
          bestScore = fr(scale * sumqx);
          besti1 = i1;
          besti2 = i2;
          bestShift = m === 0 ? 1 : -1;
        }
      }
    }
  }
  split[0] = scale;
  splitChoice[1] = besti1;
  splitChoice[2] = besti2;
  splitChoice[3] = bestShift;
}

function quantizeRowIq1S(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  if (!qw) throw new Error("IQ1_S needs an importance matrix");
  for (let b = 0; b < n; b += QK_K, o += 50) {
    const base = xo + b;
    dst.fill(0, o, o + 50);
    const sigma2 = fr(fr(2 * sumSquares(x, base)) / QK_K);
    let maxScale = 0;
    for (let ib = 0; ib < 8; ib++) {
      const xb = base + 32 * ib;
      iqWeights(x, xb, qw, b + 32 * ib, 32, sigma2, weight);
      const max = maxAbs(x, xb, 32);
      scales[ib] = 0;
      shifts[ib] = 1;
      if (max < GROUP_MAX_EPS_IQ1_S) continue;
      sortIndices(x, xb, 32);
      for (let j = 0; j < 32; j++) {
        const i = idx[j]!;
        sumx[j + 1] = fr(sumx[j]! + fr(weight[i]! * x[xb + i]!));
        sumw[j + 1] = fr(sumw[j]! + weight[i]!);
      }
      splitSearch32();
      let scale = split[0]!;
      const besti1 = splitChoice[1]!;
      const besti2 = splitChoice[2]!;
      let bestShift = splitChoice[3]!;
      if (besti1 < 0 || besti2 < 0 || bestShift === 0) continue;
      levelsFromSplit(32, besti1, besti2);
      if (scale < 0) {
        for (let j = 0; j < 32; j++) L[j] = 2 - L[j]!;
        scale = -scale;
        bestShift = -bestShift;
      }
      const xx = bestShift === 1 ? X_P : X_M;
      let allOnGrid = true;
      for (let k = 0; k < 4; k++) {
        const g = snapToGrid(k, x, xb, scale, xx);
        if (g < 0) allOnGrid = false;
        index[k] = g < 0 ? -1 - g : g;
      }
      if (!allOnGrid) {
        sums[0] = 0;
        sums[1] = 0;
        for (let k = 0; k < 4; k++) addFit(sums, x, xb, k, index[k]!, xx, 1);
        if (sums[0]! > 0 && sums[1]! > 0) scale = fr(sums[0]! / sums[1]!);
      }
      let h = 0;
      for (let k = 0; k < 4; k++) {
        dst[o + 2 + 4 * ib + k] = index[k]! & 255;
        h |= (index[k]! >> 8) << (3 * k);
      }
      dst[o + 34 + 2 * ib] = h;
      dst[o + 35 + 2 * ib] = h >> 8;
      scales[ib] = scale;
      shifts[ib] = bestShift;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) continue;
    const d = fr(maxScale / 15);
    storeF16(dst, o, fr(d * fr(1.125)));
    const id = fr(1 / d);
    for (let ib = 0; ib < 8; ib++) {
      const l = clampScaleCode(id, scales[ib]!, 7) | (shifts[ib] === -1 ? 8 : 0);
      dst[o + 35 + 2 * ib] |= l << 4;
    }
  }
}

function dequantizeIq1S(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ1S_LATTICE.values;
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 50;
    const d = loadF16(src, o);
    for (let ib = 0; ib < 8; ib++) {
      const qh = src[o + 34 + 2 * ib]! | (src[o + 35 + 2 * ib]! << 8);
      const dl = fr(d * (2 * ((qh >> 12) & 7) + 1));
      const delta = qh & 0x8000 ? -DELTA : DELTA;
      for (let l = 0; l < 4; l++) {
        const g = (src[o + 2 + 4 * ib + l]! | (((qh >> (3 * l)) & 7) << 8)) * 8;
        for (let j = 0; j < 8; j++) out[y++] = fr(dl * (values[g + j]! + delta));
      }
    }
  }
}

// ---------------------------------------------------------------- IQ1_M

/**
 * Per sorted position j of a 16-value sub-block, for each level: w*v*x and w*v*v with v the level's value with
 * delta added (P) or subtracted (M). ggml re-adds these terms in sorted order for every split, in float32.
 */
const TXP = new Float32Array(48);
const TXM = new Float32Array(48);
const TQP = new Float32Array(48);
const TQM = new Float32Array(48);
/** 1 when sorted position j holds a value of the sub-block's second half (which has its own delta sign). */
const secondHalf = new Uint8Array(16);
/** Partial sums for shift combinations k = 0 (+,+), 1 (+,-), 2 (-,+), 3 (-,-): sum w*v*x at [k], w*v*v at [4+k]. */
const head = new Float64Array(8);
const mid = new Float64Array(8);
const acc = new Float64Array(8);

/** Adds sorted position j's terms at the level whose table starts at `lv` (0, 16, 32) to the partial sums. */
function addTerms(sums: Float64Array, j: number, lv: number): void {
  const t = lv + j;
  const xp = TXP[t]!;
  const xm = TXM[t]!;
  const qp = TQP[t]!;
  const qm = TQM[t]!;
  const second = secondHalf[j] === 1;
  sums[0] = fr(sums[0]! + xp);
  sums[1] = fr(sums[1]! + (second ? xm : xp));
  sums[2] = fr(sums[2]! + (second ? xp : xm));
  sums[3] = fr(sums[3]! + xm);
  sums[4] = fr(sums[4]! + qp);
  sums[5] = fr(sums[5]! + (second ? qm : qp));
  sums[6] = fr(sums[6]! + (second ? qp : qm));
  sums[7] = fr(sums[7]! + qm);
}
/** qh delta-sign bits for shift combination k (0: +,+  1: +,-  2: -,+  3: -,-). */
const MASKS = [0x00, 0x80, 0x08, 0x88];

/** The delta sign table of 8-group k of a sub-block fitted with shift combination `combo`. */
function shiftValues(combo: number, k: number): Float32Array {
  return (k === 0 ? combo < 2 : combo % 2 === 0) ? X_P : X_M;
}

function subBlockWeights16(x: Float32Array, xb: number, qw: Float32Array | undefined, qo: number, sigma2: number): void {
  if (qw) iqWeights(x, xb, qw, qo, 16, sigma2, weight);
  else squareWeights(x, xb, 16, weight);
}

/**
 * IQ1_M's split search over the terms in TXP/TXM/TQP/TQM: every (i1, i2) with the four shift combinations,
 * keeping the first best weighted least-squares score; leaves the scale at split[0] and i1, i2, k at
 * splitChoice[1..3] (-1 when none fits). In the codec module where it runs (iq1-module.ts, the same additions
 * in the same order), else here.
 */
function splitSearch16(): void {
  const m = codecWasm();
  if (m) {
    const mem = m.f32(1536 + 16);
    for (let lv = 0; lv < 3; lv++) {
      for (let j = 0; j < 16; j++) {
        const t = 16 * lv + j;
        const at = 8 * t;
        const second = secondHalf[j] === 1;
        mem[at] = TXP[t]!;
        mem[at + 1] = second ? TXM[t]! : TXP[t]!;
        mem[at + 2] = second ? TXP[t]! : TXM[t]!;
        mem[at + 3] = TXM[t]!;
        mem[at + 4] = TQP[t]!;
        mem[at + 5] = second ? TQM[t]! : TQP[t]!;
        mem[at + 6] = second ? TQP[t]! : TQM[t]!;
        mem[at + 7] = TQM[t]!;
      }
    }
    m.kernels.iq1m_split!(m.base, m.base + 1536);
    split.set(mem.subarray(384, 388));
    return;
  }
  let bestScore = -FLT_MAX;
  let scale = 0;
  let besti1 = -1;
  let besti2 = -1;
  let bestK = -1;
  // ggml sums each split's terms from j = 0 in sorted order. Runs that share a prefix share its partial
  // sums, so keep the state after the level-0 run (head) and after the level-1 run (mid) and only add the
  // level-2 tail per split: the same float additions in the same order.
  head.fill(0);
  for (let i1 = 0; i1 <= 16; i1++) {
    if (i1 > 0) addTerms(head, i1 - 1, 0);
    mid.set(head);
    for (let i2 = i1; i2 <= 16; i2++) {
      if (i2 > i1) addTerms(mid, i2 - 1, 16);
      acc.set(mid);
      for (let j = i2; j < 16; j++) addTerms(acc, j, 32);
      for (let k = 0; k < 4; k++) {
        const sqx = acc[k]!;
        const sq2 = acc[4 + k]!;
        if (sq2 > 0 && fr(sqx * sqx) > fr(bestScore * sq2)) {
          scale = fr(sqx / sq2);
          bestScore = fr(scale * sqx);
          besti1 = i1;
          besti2 = i2;
          bestK = k;
        }
      }
    }
  }
  split[0] = scale;
  splitChoice[1] = besti1;
  splitChoice[2] = besti2;
  splitChoice[3] = bestK;
}

function quantizeRowIq1M(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  for (let b = 0; b < n; b += QK_K, o += 56) {
    const base = xo + b;
    dst.fill(0, o, o + 56);
    const sigma2 = fr(fr(2 * sumSquares(x, base)) / QK_K);
    let maxScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const xb = base + 16 * ib;
      subBlockWeights16(x, xb, qw, b + 16 * ib, sigma2);
      const max = maxAbs(x, xb, 16);
      scales[ib] = 0;
      shifts[ib] = 0;
      if (max < GROUP_MAX_EPS_IQ1_M) continue;
      sortIndices(x, xb, 16);
      for (let j = 0; j < 16; j++) {
        const i = idx[j]!;
        secondHalf[j] = i < 8 ? 0 : 1;
        const w = weight[i]!;
        const xi = x[xb + i]!;
        for (let lv = 0; lv < 3; lv++) {
          const wp = fr(w * X_P[lv]!);
          const wm = fr(w * X_M[lv]!);
          TXP[16 * lv + j] = fr(wp * xi);
          TXM[16 * lv + j] = fr(wm * xi);
          TQP[16 * lv + j] = fr(wp * X_P[lv]!);
          TQM[16 * lv + j] = fr(wm * X_M[lv]!);
        }
      }
      splitSearch16();
      let scale = split[0]!;
      const besti1 = splitChoice[1]!;
      const besti2 = splitChoice[2]!;
      let bestK = splitChoice[3]!;
      if (besti1 < 0 || besti2 < 0 || bestK < 0) continue;
      levelsFromSplit(16, besti1, besti2);
      if (scale < 0) {
        for (let j = 0; j < 16; j++) L[j] = 2 - L[j]!;
        scale = -scale;
        bestK = 3 - bestK;
      }
      let allOnGrid = true;
      for (let k = 0; k < 2; k++) {
        const g = snapToGrid(k, x, xb, scale, shiftValues(bestK, k));
        if (g < 0) allOnGrid = false;
        index[k] = g < 0 ? -1 - g : g;
      }
      if (!allOnGrid) {
        sums[0] = 0;
        sums[1] = 0;
        for (let k = 0; k < 2; k++) addFit(sums, x, xb, k, index[k]!, shiftValues(bestK, k), 1);
        if (sums[0]! > 0 && sums[1]! > 0) scale = fr(sums[0]! / sums[1]!);
      }
      dst[o + 2 * ib] = index[0]! & 255;
      dst[o + 2 * ib + 1] = index[1]! & 255;
      dst[o + 32 + ib] = (index[0]! >> 8) | ((index[1]! >> 8) << 4);
      scales[ib] = scale;
      shifts[ib] = bestK;
      maxScale = maxScale > scale ? maxScale : scale;
    }
    if (!maxScale) continue;
    let d = fr(maxScale / 15);
    const id = fr(1 / d);
    // With the sub-block codes fixed, refit the super-block scale to the whole block by least squares.
    const sc = new Uint16Array(4);
    sums[0] = 0;
    sums[1] = 0;
    for (let ib = 0; ib < 16; ib++) {
      const l = clampScaleCode(id, scales[ib]!, 7);
      sc[ib >> 2] |= l << (3 * (ib % 4));
      dst[o + 32 + ib] |= MASKS[shifts[ib]!]!;
      const xb = base + 16 * ib;
      subBlockWeights16(x, xb, qw, b + 16 * ib, sigma2);
      const qh = dst[o + 32 + ib]!;
      for (let k = 0; k < 2; k++) {
        const g = dst[o + 2 * ib + k]! + ((qh << (8 - 4 * k)) & 0x700);
        addFit(sums, x, xb, k, g, shiftValues(shifts[ib]!, k), 2 * l + 1);
      }
    }
    if (sums[1]! > 0) d = fr(sums[0]! / sums[1]!);
    const s = f32ToF16(fr(d * fr(1.1125)));
    sc[0] |= (s & 0x000f) << 12;
    sc[1] |= (s & 0x00f0) << 8;
    sc[2] |= (s & 0x0f00) << 4;
    sc[3] |= s & 0xf000;
    for (let i = 0; i < 4; i++) {
      dst[o + 48 + 2 * i] = sc[i]!;
      dst[o + 49 + 2 * i] = sc[i]! >> 8;
    }
  }
}

function dequantizeIq1M(src: Uint8Array, nblocks: number, out: Float32Array): void {
  const values = IQ1S_LATTICE.values;
  const sc = new Uint16Array(4);
  let y = 0;
  for (let b = 0; b < nblocks; b++) {
    const o = b * 56;
    for (let i = 0; i < 4; i++) sc[i] = src[o + 48 + 2 * i]! | (src[o + 49 + 2 * i]! << 8);
    const d = f16ToF32((sc[0]! >> 12) | ((sc[1]! >> 8) & 0x00f0) | ((sc[2]! >> 4) & 0x0f00) | (sc[3]! & 0xf000));
    for (let ib = 0; ib < 8; ib++) {
      const s = sc[ib >> 1]! >> (6 * (ib % 2));
      const dl1 = fr(d * (2 * (s & 7) + 1));
      const dl2 = fr(d * (2 * ((s >> 3) & 7) + 1));
      const qh0 = src[o + 32 + 2 * ib]!;
      const qh1 = src[o + 33 + 2 * ib]!;
      for (let l = 0; l < 4; l++) {
        const qh = l < 2 ? qh0 : qh1;
        const high = l % 2 === 0 ? (qh << 8) & 0x700 : (qh << 4) & 0x700;
        const g = (src[o + 4 * ib + l]! | high) * 8;
        const delta = qh & (l % 2 === 0 ? 0x08 : 0x80) ? -DELTA : DELTA;
        const dl = l < 2 ? dl1 : dl2;
        for (let j = 0; j < 8; j++) out[y++] = fr(dl * (values[g + j]! + delta));
      }
    }
  }
}

export const iq1SCodec = defineBlockCodec({ name: "IQ1_S", requiresImatrix: true, quantizeRow: quantizeRowIq1S, dequantize: dequantizeIq1S });
export const iq1MCodec = defineBlockCodec({ name: "IQ1_M", quantizeRow: quantizeRowIq1M, dequantize: dequantizeIq1M });

registerCodec(iq1SCodec);
registerCodec(iq1MCodec);
