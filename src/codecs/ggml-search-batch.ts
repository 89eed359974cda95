/**
 * Batched entry points of ggml's scale searches (make_qkx2/qx/q3/qp_quants, IQ4's) and of the k-quants' and
 * IQ4's last rounding: many independent groups of a row per call, run by the WebAssembly SIMD kernels
 * (ggml-search-module.ts, kquant-module.ts, in codec-wasm.ts's module; the searches four groups per vector)
 * where the module runs, else group by group in JavaScript (ggml-search.ts). Both give the same bits. Each
 * call copies its groups into the module's memory (the searches in the interleaved quad layout) and reads the
 * results back.
 */
import { type CodecWasm, codecWasm } from "./codec-wasm.js";
import { type QkxWeights, qkxKernelName } from "./ggml-search-module.js";
import { nearestInt } from "../numeric/float32-ops.js";
import { bestIndexIq4nl, iq4nlBlockScale, makeQ3Quants, makeQkxQuants, makeQpQuants, makeQxQuants } from "./ggml-search.js";

const fr = Math.fround;

/**
 * Copies `groups` groups of n values (group g at src[so + g*n]) to the scratch at byte `stage`, zero-padded to
 * whole quads, and has the module interleave them into the quad layout at byte `at` (both from m.base).
 */
function loadQuads(m: CodecWasm, at: number, stage: number, src: Float32Array, so: number, groups: number, n: number): void {
  const quads = (groups + 3) >> 2;
  const mem = m.f32(stage + 16 * quads * n);
  mem.set(src.subarray(so, so + groups * n), stage / 4);
  mem.fill(0, stage / 4 + groups * n, stage / 4 + 4 * quads * n);
  m.kernels.interleave!(m.base + stage, m.base + at, quads, n);
}

/**
 * Byte offsets (from m.base) of a quad search on `groups` groups of n values with weights: x, weights, levels
 * (each a block of whole quads), the search's auxiliary vectors, its outputs (`outBytes` per quad), then the
 * staging area loadQuads copies through.
 */
function quadSearchLayout(groups: number, n: number, outBytes: number) {
  const quads = (groups + 3) >> 2;
  const block = quads * n * 16;
  const auxAt = 3 * block;
  const outAt = auxAt + n * 16;
  return { quads, xAt: 0, wAt: block, levelsAt: 2 * block, auxAt, outAt, stage: outAt + quads * outBytes };
}

/**
 * Copies every group's n levels out of the quad layout (group g is lane g & 3 of quad g >> 2, four lanes per
 * value) starting at element `at` of `levels`, to L[lo + g*n ..].
 */
function readQuadLevels(levels: Float32Array | Int32Array, at: number, groups: number, n: number, L: Uint8Array | Int8Array, lo: number): void {
  for (let g = 0; g < groups; g++) {
    let s = at + (g >> 2) * n * 4 + (g & 3);
    for (let i = 0, d = lo + g * n; i < n; i++, s += 4) L[d + i] = levels[s]!;
  }
}

/**
 * make_qkx2_quants on `groups` groups of n values: group g is x[xo + g*n ..] with weights[g*n ..]; its levels
 * go to L[lo + g*n ..], its scale to scales[g] and its min (a positive offset) to mins[g].
 */
export function makeQkxQuantsBatch(
  groups: number,
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array | Exclude<QkxWeights, "given">,
  L: Uint8Array,
  lo: number,
  scales: Float32Array,
  mins: Float32Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): void {
  const m = codecWasm();
  const kind: QkxWeights = typeof weights === "string" ? weights : "given";
  const search = m?.kernels[qkxKernelName(n, useMad, kind)];
  if (!m || !search) {
    for (let g = 0; g < groups; g++) {
      const w = typeof weights === "string" ? groupWeights(weights, x, xo + g * n, n) : weights.subarray(g * n, g * n + n);
      scales[g] = makeQkxQuants(n, nmax, x, xo + g * n, w, L, lo + g * n, scratchMin, scratchLevels, rmin, rdelta, nstep, useMad);
      mins[g] = scratchMin[0]!;
    }
    return;
  }
  const { quads, xAt, wAt, levelsAt, auxAt, outAt, stage } = quadSearchLayout(groups, n, 32);
  loadQuads(m, xAt, stage, x, xo, groups, n);
  if (typeof weights !== "string") loadQuads(m, wAt, stage, weights, 0, groups, n);
  const mem = m.f32(stage);
  const at = m.base;
  search(at + xAt, at + wAt, at + levelsAt, at + auxAt, at + outAt, quads, nmax, rmin, rdelta, nstep);
  readQuadLevels(mem, levelsAt / 4, groups, n, L, lo);
  for (let g = 0; g < groups; g++) {
    // Per quad: four scales, then four mins.
    scales[g] = mem[outAt / 4 + (g >> 2) * 8 + (g & 3)]!;
    mins[g] = mem[outAt / 4 + (g >> 2) * 8 + 4 + (g & 3)]!;
  }
}

/**
 * make_qx_quants (rmse_type 1) on `groups` groups of n values: group g is x[xo + g*n ..] with weights
 * weights[wo + g*n ..], or x^2 when weights is null; its levels l + nmax go to L[lo + g*n ..] and its scale to
 * scales[so + g].
 */
export function makeQxQuantsBatch(
  groups: number,
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array | null,
  wo: number,
  L: Uint8Array | Int8Array,
  lo: number,
  scales: Float32Array,
  so: number,
): void {
  const m = codecWasm();
  const search = m?.kernels[`qx_${n}${weights ? "" : "_sq"}`];
  if (!m || !search) {
    for (let g = 0; g < groups; g++) scales[so + g] = makeQxQuants(n, nmax, x, xo + g * n, L, lo + g * n, 1, weights, wo + g * n);
    return;
  }
  const { quads, xAt, wAt, levelsAt, auxAt, outAt, stage } = quadSearchLayout(groups, n, 16);
  loadQuads(m, xAt, stage, x, xo, groups, n);
  if (weights) loadQuads(m, wAt, stage, weights, wo, groups, n);
  const mem = m.f32(stage);
  const at = m.base;
  search(at + xAt, at + wAt, at + levelsAt, at + auxAt, at + outAt, quads, nmax);
  readQuadLevels(mem, levelsAt / 4, groups, n, L, lo);
  for (let g = 0; g < groups; g++) scales[so + g] = mem[outAt / 4 + g]!;
}

/**
 * The IQ4_NL / IQ4_XS scale search (quantize_row_iq4_nl_impl) on `blocks` blocks of 32 values: block b is
 * x[xo + 32b ..] with weights[32b ..]; its scale goes to scales[b].
 */
export function iq4nlBlockScalesBatch(blocks: number, x: Float32Array, xo: number, weights: Float32Array, scales: Float32Array): void {
  const m = codecWasm();
  if (!m) {
    for (let b = 0; b < blocks; b++) scales[b] = iq4nlBlockScale(x, xo + 32 * b, weights, 32 * b);
    return;
  }
  const quads = (blocks + 3) >> 2;
  const block = quads * 32 * 16;
  const stage = 2 * block + quads * 16;
  loadQuads(m, 0, stage, x, xo, blocks, 32);
  loadQuads(m, block, stage, weights, 0, blocks, 32);
  const mem = m.f32(stage);
  m.kernels.iq4_32!(m.base, m.base + block, m.base + 2 * block, quads);
  for (let b = 0; b < blocks; b++) scales[b] = mem[(2 * block) / 4 + b]!;
}

const scratchMin = new Float32Array(1);
const scratchWeights = new Float32Array(32);
const scratchLevels8 = new Int8Array(16);

/** The weights the codec module computes itself, for the scalar searches: |x|, or sqrt(mean x^2) + |x|. */
function groupWeights(kind: Exclude<QkxWeights, "given">, x: Float32Array, xo: number, n: number): Float32Array {
  let av = 0;
  if (kind === "rmsAbs") {
    let sumX2 = 0;
    for (let l = 0; l < n; l++) sumX2 = fr(sumX2 + fr(x[xo + l]! * x[xo + l]!));
    av = fr(Math.sqrt(fr(sumX2 / n)));
  }
  for (let l = 0; l < n; l++) scratchWeights[l] = kind === "rmsAbs" ? fr(av + Math.abs(x[xo + l]!)) : Math.abs(x[xo + l]!);
  return scratchWeights;
}
const scratchLevels = new Uint8Array(256);

/**
 * The k-quants' last rounding over `groups` groups of n values (a multiple of 16): group g is x[xo + g*n ..]
 * with scale d[g] and offset m[g] (0 when m is null); when d[g] != 0, its levels L[lo + g*n + i] become
 * clamp(nearest_int((x + m) / d), low, high) + offset (x / d without an offset); other groups keep theirs.
 * As in C, a NaN d (an fp16 super-block scale that overflowed to infinity, times a code of 0) counts as
 * non-zero: its values round to nearest_int(NaN) = 0 before the clamp.
 */
export function requantizeGroups(groups: number, n: number, x: Float32Array, xo: number, m: Float32Array | null, d: Float32Array, low: number, high: number, offset: number, L: Uint8Array, lo: number): void {
  const w = codecWasm();
  if (!w) {
    for (let g = 0; g < groups; g++) {
      const dg = d[g]!;
      if (dg === 0) continue;
      const mg = m ? m[g]! : 0;
      for (let i = 0, s = xo + g * n, t = lo + g * n; i < n; i++) {
        const l = nearestInt(m ? fr(fr(x[s + i]! + mg) / dg) : fr(x[s + i]! / dg));
        L[t + i] = (l < low ? low : l > high ? high : l) + offset;
      }
    }
    return;
  }
  // Values, then (m, d) per group, then the levels.
  const values = groups * n;
  const mdAt = 4 * values;
  const levelsAt = mdAt + 8 * groups;
  const mem = w.f32(levelsAt + values);
  mem.set(x.subarray(xo, xo + values));
  for (let g = 0; g < groups; g++) {
    mem[values + 2 * g] = m ? m[g]! : 0;
    mem[values + 2 * g + 1] = d[g]!;
  }
  const bytes = w.u8(levelsAt + values);
  bytes.set(L.subarray(lo, lo + values), levelsAt);
  w.kernels.requant!(w.base, w.base + mdAt, w.base + levelsAt, groups, n, low, high, offset);
  L.set(bytes.subarray(levelsAt, levelsAt + values), lo);
}

/**
 * The nibbles of IQ4_NL / IQ4_XS for `blocks` blocks of 32 values at x[xo ..], block b rounded with inverse scale
 * ids[b]: byte j of block b (at out[oo + 16 b + j]) holds best_index(id x_j) | best_index(id x_(j+16)) << 4.
 */
export function iq4CodesBatch(blocks: number, x: Float32Array, xo: number, ids: Float32Array, out: Uint8Array, oo: number): void {
  const m = codecWasm();
  if (!m) {
    for (let b = 0; b < blocks; b++) {
      const id = ids[b]!;
      const xb = xo + 32 * b;
      for (let j = 0; j < 16; j++) out[oo + 16 * b + j] = bestIndexIq4nl(fr(id * x[xb + j]!)) | (bestIndexIq4nl(fr(id * x[xb + j + 16]!)) << 4);
    }
    return;
  }
  const idsAt = 128 * blocks;
  const outAt = idsAt + 4 * blocks;
  const mem = m.f32(outAt + 16 * blocks);
  mem.set(x.subarray(xo, xo + 32 * blocks));
  mem.set(ids.subarray(0, blocks), idsAt / 4);
  m.kernels.iq4_codes!(m.base, m.base + idsAt, m.base + outAt, blocks);
  out.set(m.u8(outAt + 16 * blocks).subarray(outAt, outAt + 16 * blocks), oo);
}

/**
 * make_q3_quants (with rmse, weights x^2) on `groups` groups of 16 values: group g is x[xo + 16g ..]; its levels
 * l + nmax go to L[lo + 16g ..] and its scale to scales[g].
 */
export function makeQ3QuantsBatch(groups: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number, scales: Float32Array): void {
  const m = codecWasm();
  if (!m) {
    for (let g = 0; g < groups; g++) {
      scales[g] = makeQ3Quants(16, nmax, x, xo + 16 * g, scratchLevels8, 0, true);
      for (let i = 0; i < 16; i++) L[lo + 16 * g + i] = scratchLevels8[i]!;
    }
    return;
  }
  const quads = (groups + 3) >> 2;
  const block = quads * 16 * 16;
  const levelsAt = block;
  const outAt = 2 * block;
  const stage = outAt + quads * 16;
  loadQuads(m, 0, stage, x, xo, groups, 16);
  const mem = m.f32(stage);
  m.kernels.q3_16!(m.base, m.base + levelsAt, m.base + outAt, quads, nmax);
  readQuadLevels(mem, levelsAt / 4, groups, 16, L, lo);
  for (let g = 0; g < groups; g++) scales[g] = mem[outAt / 4 + g]!;
}

/**
 * make_qp_quants on `groups` groups of n values (8 or 16): group g is x[n g ..] with weights w[n g ..]; its levels
 * go to L[n g ..] and its scale to scales[g].
 */
export function makeQpQuantsBatch(groups: number, n: number, nmax: number, x: Float32Array, w: Float32Array, L: Uint8Array, scales: Float32Array): void {
  const m = codecWasm();
  const search = m?.kernels[`qp_${n}`];
  if (!m || !search) {
    for (let g = 0; g < groups; g++) scales[g] = makeQpQuants(n, nmax, x.subarray(n * g, n * g + n), L.subarray(n * g, n * g + n), w.subarray(n * g, n * g + n));
    return;
  }
  const quads = (groups + 3) >> 2;
  const block = quads * n * 16;
  const levelsAt = 2 * block;
  const outAt = 3 * block;
  const stage = outAt + quads * 16;
  loadQuads(m, 0, stage, x, 0, groups, n);
  loadQuads(m, block, stage, w, 0, groups, n);
  search(m.base, m.base + block, m.base + levelsAt, m.base + outAt, quads, nmax);
  const levels = new Int32Array(m.f32(stage).buffer, m.base + levelsAt, 4 * quads * n);
  const mem = m.f32(stage);
  readQuadLevels(levels, 0, groups, n, L, 0);
  for (let g = 0; g < groups; g++) scales[g] = mem[outAt / 4 + g]!;
}
