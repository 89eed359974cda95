/**
 * The search the IQ2 and IQ3 quantizers of ggml-quants.c share: values are made non-negative (their signs are
 * stored separately), then for a range of candidate scales every group of `dim` values is rounded to lattice
 * levels (snapped to the best neighbouring lattice point when the rounded key is not on the lattice), and the
 * candidate whose weighted least-squares scale explains the most energy wins; a last pass re-snaps with that
 * scale and refits it. Float32 semantics throughout: `fr` after every C float operation, in C's order.
 */
import { BitsmithError } from "../core/index.js";
import { nearestInt } from "../numeric/float32-ops.js";
import { type CodecWasm, codecWasm } from "./codec-wasm.js";
import { neighbourListLayout, termStride } from "./iq-grid-module.js";
import { type IqLattice, neighbours } from "./iq-grids.js";
import { FLT_MAX } from "./iq-weights.js";

const fr = Math.fround;

/**
 * xval[xo..xo+8) = |x[xi..xi+8)| with an even number of sign flips: when the count of negative values is odd,
 * the value with the least weight*x^2 keeps the wrong sign (xval negative) so that ksigns_iq2xs' parity bit can
 * stand for the eighth sign. Returns the 7 stored sign bits (IQ2_XXS, IQ2_XS, IQ3_XXS).
 */
export function foldSignsEvenParity(x: Float32Array, xi: number, weight: Float32Array, xval: Float32Array, xo: number): number {
  let nflip = 0;
  let s = 0;
  for (let i = 0; i < 8; i++) {
    const v = x[xi + i]!;
    if (v >= 0) xval[xo + i] = v;
    else {
      xval[xo + i] = -v;
      nflip++;
      s |= 1 << i;
    }
  }
  if (nflip % 2) {
    let imin = 0;
    let min = fr(fr(weight[xo]! * x[xi]!) * x[xi]!);
    for (let i = 1; i < 8; i++) {
      const ax = fr(fr(weight[xo + i]! * x[xi + i]!) * x[xi + i]!);
      if (ax < min) {
        min = ax;
        imin = i;
      }
    }
    xval[xo + imin] = -xval[xo + imin]!;
    s ^= 1 << imin;
  }
  return s & 127;
}

/** xval[xo..xo+8) = |x[xi..xi+8)|; returns the 8 sign bits (IQ2_S, IQ3_S store all of them). */
export function foldSigns(x: Float32Array, xi: number, xval: Float32Array, xo: number): number {
  let s = 0;
  for (let i = 0; i < 8; i++) {
    const v = x[xi + i]!;
    if (v >= 0) xval[xo + i] = v;
    else {
      xval[xo + i] = -v;
      s |= 1 << i;
    }
  }
  return s;
}

/** Scratch for per-(coordinate, level) distance terms (at most 8 coordinates x 3 levels or 4 x 8). */
const terms = new Float64Array(32);

/**
 * ggml's *_find_best_neighbour: among the neighbours of key u, the lattice point minimising
 * sum_i w[wo+i] * (scale*levelValue[level_i] - x[xo+i])^2, the first one on ties. Writes its levels to
 * L[lo..lo+dim) and returns its index. IQ2/IQ3 score positions 2*level+1 (POSITIONS), IQ1 its shifted values.
 */
export function bestNeighbour(lat: IqLattice, u: number, x: Float32Array, xo: number, w: Float32Array, wo: number, scale: number, levelValue: Float32Array, L: Int8Array, lo: number): number {
  const m = lat.dim === 8 ? codecWasm() : null;
  if (m) return bestNeighbourWasm(m, lat, u, x, xo, w, wo, scale, levelValue, L, lo);
  const list = lat.neighbourCache[u] ?? neighbours(lat, u);
  const { pointTerms, termList } = list;
  const dim = lat.dim;
  const levelCount = lat.levelCount;
  // Each distance term depends only on the coordinate and its level: computed once for the pairs the list
  // uses, each point's distance is their float32 sum in coordinate order, as in ggml.
  for (let t = 0; t < termList.length; t++) {
    const ti = termList[t]!;
    const i = (ti / levelCount) | 0;
    const diff = fr(fr(scale * levelValue[ti - i * levelCount]!) - x[xo + i]!);
    terms[ti] = fr(fr(w[wo + i]! * diff) * diff);
  }
  const count = list.points.length;
  let bestD2 = FLT_MAX;
  let best = -1;
  if (dim === 4) {
    for (let j = 0, p = 0; j < count; j++, p += 4) {
      const d2 = fr(fr(fr(terms[pointTerms[p]!]! + terms[pointTerms[p + 1]!]!) + terms[pointTerms[p + 2]!]!) + terms[pointTerms[p + 3]!]!);
      if (d2 < bestD2) {
        bestD2 = d2;
        best = j;
      }
    }
  } else {
    for (let j = 0, p = 0; j < count; j++, p += dim) {
      // Terms are >= 0, so partial sums never decrease: a point whose first half already reaches the best
      // distance cannot win (ties keep the earlier point), and its second half is skipped.
      let d2 = fr(fr(fr(terms[pointTerms[p]!]! + terms[pointTerms[p + 1]!]!) + terms[pointTerms[p + 2]!]!) + terms[pointTerms[p + 3]!]!);
      if (!(d2 < bestD2)) continue;
      for (let i = 4; i < dim; i++) d2 = fr(d2 + terms[pointTerms[p + i]!]!);
      if (d2 < bestD2) {
        bestD2 = d2;
        best = j;
      }
    }
  }
  if (best < 0) throw new BitsmithError(`no finite distance to any lattice neighbour: non-finite input values?`);
  const point = list.points[best]!;
  for (let i = 0; i < dim; i++) L[lo + i] = lat.levels[point * dim + i]!;
  return point;
}

/** Position 2*level+1 of each level: the values the IQ2 and IQ3 searches fit. */
export const POSITIONS = Float32Array.from({ length: 8 }, (_, l) => 2 * l + 1);

/** How the final pass re-snaps groups with the chosen scale. */
export type Refit =
  /** every group, whenever the scale is positive (IQ2_XXS) */
  | "always"
  /** every group, when some group of the chosen candidate was off the lattice (IQ3_S) */
  | "allIfOffGrid"
  /** only the groups that were off the lattice (IQ2_XS, IQ2_S, IQ3_XXS) */
  | "offGridOnly";

export interface GridFit {
  readonly lattice: IqLattice;
  /** Values in the sub-block (a multiple of lattice.dim). */
  readonly n: number;
  /** Levels per coordinate used by the rounding (3 for IQ2, 8 for IQ3). */
  readonly kMaxQ: number;
  /** Candidates is = -isRange..isRange with inverse scales (2*kMaxQ - 1 + is*isStep) / denominator. */
  readonly isRange: number;
  readonly isStep: number;
  readonly refit: Refit;
  /** Whether groups count as on the lattice before any candidate has been accepted (false only in IQ3_S). */
  readonly initialOnGrid: boolean;
}

const MAX_GROUPS = 8;
const MAX_VALUES = 32;
const MAX_LEVELS = 8;
const Laux = new Int8Array(MAX_VALUES);
const onGrid = new Uint8Array(MAX_GROUPS);
const onGridAux = new Uint8Array(MAX_GROUPS);
/** Per value i and level l (q = 2l + 1): w*x*q at [i * MAX_LEVELS + l] and w*q*q, as fitSums adds them. */
const fitX = new Float64Array(MAX_VALUES * MAX_LEVELS);
const fitQ = new Float64Array(MAX_VALUES * MAX_LEVELS);

/** Key of the group at L[lo..lo+dim). */
function keyOf(lat: IqLattice, L: Int8Array, lo: number): number {
  let u = 0;
  for (let i = 0; i < lat.dim; i++) u |= L[lo + i]! << (lat.bits * i);
  return u;
}

/** Rounds group k of xval with inverse scale id into L, snapping to the lattice; returns whether it was on it. */
function snapGroup(lat: IqLattice, top: number, k: number, xval: Float32Array, waux: Float32Array, id: number, scale: number, L: Int8Array): boolean {
  const dim = lat.dim;
  const bits = lat.bits;
  const lo = k * dim;
  let u = 0;
  for (let i = 0; i < dim; i++) {
    const l = nearestInt(fr(0.5 * fr(fr(id * xval[lo + i]!) - 1)));
    const c = l < 0 ? 0 : l > top ? top : l;
    L[lo + i] = c;
    u |= c << (bits * i);
  }
  if (lat.kmap[u]! >= 0) return true;
  bestNeighbour(lat, u, xval, lo, waux, lo, scale, POSITIONS, L, lo);
  return false;
}

/**
 * Weighted least-squares fit of xval by scale*(2L+1) from the tabulated terms: [sum w*x*q, sum w*q^2], added
 * in order in float32.
 */
function fitSums(n: number, L: Int8Array, out: Float32Array): void {
  let sumqx = 0;
  let sumq2 = 0;
  for (let i = 0, t = 0; i < n; i++, t += MAX_LEVELS) {
    const l = L[i]!;
    sumqx = fr(sumqx + fitX[t + l]!);
    sumq2 = fr(sumq2 + fitQ[t + l]!);
  }
  out[0] = sumqx;
  out[1] = sumq2;
}

const sums = new Float32Array(2);

/**
 * Searches the scale of one sub-block of non-negative values xval[0..n) with weights weight (fit) and waux
 * (neighbour choice). `denominator` and `scale` are the type's starting point (the sub-block maximum and
 * max/(2*kMaxQ-1), or IQ2_XXS's make_qp_quants estimate). Leaves the chosen levels in L[0..n) (L must hold
 * the type's initial levels) and returns the scale.
 */
export function fitGridScale(f: GridFit, xval: Float32Array, weight: Float32Array, waux: Float32Array, L: Int8Array, denominator: number, scale: number): number {
  const m = codecWasm();
  if (m) return fitGridScaleWasm(m, f, xval, weight, waux, L, denominator, scale);
  const { n, kMaxQ } = f;
  const lat = f.lattice;
  const top = kMaxQ - 1;
  const groups = n / lat.dim;
  // The fit's terms depend on the value and its level only: tabulated once, not per candidate.
  for (let i = 0; i < n; i++) {
    const w = weight[i]!;
    const wx = fr(w * xval[i]!);
    for (let l = 0; l < kMaxQ; l++) {
      const q = 2 * l + 1;
      fitX[i * MAX_LEVELS + l] = fr(wx * q);
      fitQ[i * MAX_LEVELS + l] = fr(fr(w * q) * q);
    }
  }
  let best = 0;
  onGrid.fill(f.initialOnGrid ? 1 : 0, 0, groups);
  for (let is = -f.isRange; is <= f.isRange; is++) {
    const id = fr(fr(2 * kMaxQ - 1 + fr(is * f.isStep)) / denominator);
    const thisScale = fr(1 / id);
    for (let k = 0; k < groups; k++) onGridAux[k] = snapGroup(lat, top, k, xval, waux, id, thisScale, Laux) ? 1 : 0;
    fitSums(n, Laux, sums);
    const sumqx = sums[0]!;
    const sumq2 = sums[1]!;
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      scale = fr(sumqx / sumq2);
      best = fr(scale * sumqx);
      for (let i = 0; i < n; i++) L[i] = Laux[i]!;
      for (let k = 0; k < groups; k++) onGrid[k] = onGridAux[k]!;
    }
  }
  let offGrid = 0;
  for (let k = 0; k < groups; k++) if (!onGrid[k]) offGrid++;
  const refit = f.refit === "always" || offGrid > 0;
  if (refit && scale > 0) {
    const id = fr(1 / scale);
    for (let k = 0; k < groups; k++) {
      if (f.refit === "offGridOnly" && onGrid[k]) continue;
      snapGroup(lat, top, k, xval, waux, id, scale, L);
    }
    fitSums(n, L, sums);
    if (sums[1]! > 0) scale = fr(sums[0]! / sums[1]!);
  }
  return scale;
}

/** Lattice index of group k of L (which the search left on the lattice). */
export function gridIndex(lat: IqLattice, L: Int8Array, k: number): number {
  const index = lat.kmap[keyOf(lat, L, k * lat.dim)]!;
  if (index < 0) throw new BitsmithError("internal error: quantized group is not on the lattice");
  return index;
}

/** A lattice's tables in the codec module's persistent memory (see iq-grid-module.ts). */
interface LatticeTables {
  kmap: number;
  lists: number;
  levels: number;
  positions: number;
}

const latticeTables = new Map<IqLattice, LatticeTables>();

function tablesOf(m: CodecWasm, lat: IqLattice): LatticeTables {
  let t = latticeTables.get(lat);
  if (t) return t;
  const keys = lat.kmap.length;
  t = { kmap: m.persist(4 * keys), lists: m.persist(4 * keys), levels: m.persist(lat.levels.length), positions: m.persist(4 * MAX_LEVELS) };
  const { i32, u8, f32 } = m.views();
  i32.set(lat.kmap, t.kmap / 4);
  i32.fill(0, t.lists / 4, t.lists / 4 + keys);
  u8.set(lat.levels, t.levels);
  f32.set(POSITIONS, t.positions / 4);
  latticeTables.set(lat, t);
  return t;
}

/** bestNeighbour in the codec module (grid_neighbour_8 of iq-grid-module.ts): the same choice. */
function bestNeighbourWasm(m: CodecWasm, lat: IqLattice, u: number, x: Float32Array, xo: number, w: Float32Array, wo: number, scale: number, levelValue: Float32Array, L: Int8Array, lo: number): number {
  const t = tablesOf(m, lat);
  const dim = lat.dim;
  if (m.views().i32[t.lists / 4 + u] === 0) persistNeighbours(m, lat, t, u);
  const list = m.views().i32[t.lists / 4 + u]!;
  // Scratch: the group's values, weights, level values (float32), its levels (int32), then the terms.
  const mem = m.f32(4 * (3 * dim + MAX_LEVELS + 32));
  for (let i = 0; i < dim; i++) {
    mem[i] = x[xo + i]!;
    mem[dim + i] = w[wo + i]!;
  }
  mem.fill(0, 2 * dim, 2 * dim + MAX_LEVELS);
  mem.set(levelValue, 2 * dim);
  const at = m.base;
  const levelsAt = 2 * dim + MAX_LEVELS;
  const point = m.kernels[`grid_neighbour_${dim}`]!(list, t.levels, at + 8 * dim, at, at + 4 * dim, scale, at + 4 * levelsAt, at + 4 * (levelsAt + dim))!;
  if (point < 0) throw new BitsmithError(`no finite distance to any lattice neighbour: non-finite input values?`);
  const levels = new Int32Array(mem.buffer, mem.byteOffset + 4 * levelsAt, dim);
  for (let i = 0; i < dim; i++) L[lo + i] = levels[i]!;
  return point;
}

/** Copies key u's neighbour list into the module's persistent memory (neighbourListLayout of iq-grid-module.ts). */
function persistNeighbours(m: CodecWasm, lat: IqLattice, t: LatticeTables, u: number): void {
  const list = lat.neighbourCache[u] ?? neighbours(lat, u);
  const count = list.points.length;
  const dim = lat.dim;
  const layout = neighbourListLayout(count, dim);
  const at = m.persist(layout.bytes);
  const { i32, u8 } = m.views();
  i32[at / 4] = count;
  new Uint16Array(u8.buffer, at + layout.pointsAt, count).set(list.points);
  // Term offsets in the kernel's table: coordinate c, level l at 4 * (c * stride + l).
  const stride = termStride(lat.levelCount);
  for (let k = 0; k < count * dim; k++) {
    const ti = list.pointTerms[k]!;
    const c = Math.floor(ti / lat.levelCount);
    u8[at + layout.pointTermsAt + k] = 4 * (c * stride + ti - c * lat.levelCount);
  }
  i32[t.lists / 4 + u] = at;
}

const REFIT_CODE: Record<Refit, number> = { always: 0, allIfOffGrid: 1, offGridOnly: 2 };

/** fitGridScale in the codec module (iq-grid-module.ts): the same search, the same result. */
function fitGridScaleWasm(m: CodecWasm, f: GridFit, xval: Float32Array, weight: Float32Array, waux: Float32Array, L: Int8Array, denominator: number, scale: number): number {
  const lat = f.lattice;
  const t = tablesOf(m, lat);
  const n = f.n;
  const fit = m.kernels[`grid_fit_${lat.dim}`]!;
  for (;;) {
    // Inputs: xval, weight, waux (float32), L (int32), then the output and the kernel's scratch.
    const mem = m.f32(4 * (5 * n + 1) + 4 * (n + 16 + 2 * n * MAX_LEVELS + 32));
    const levelsAt = new Int32Array(mem.buffer, mem.byteOffset + 12 * n, n);
    mem.set(xval.subarray(0, n), 0);
    mem.set(weight.subarray(0, n), n);
    mem.set(waux.subarray(0, n), 2 * n);
    for (let i = 0; i < n; i++) levelsAt[i] = L[i]!;
    const at = m.base;
    const status = fit(t.kmap, t.lists, t.levels, t.positions, at, at + 4 * n, at + 8 * n, at + 12 * n, at + 16 * n + 4, n, f.kMaxQ, f.isRange, f.isStep, denominator, scale, REFIT_CODE[f.refit], f.initialOnGrid ? 1 : 0, at + 16 * n)!;
    if (status === 0) {
      for (let i = 0; i < n; i++) L[i] = levelsAt[i]!;
      return mem[4 * n]!;
    }
    if (status < 0) throw new BitsmithError(`no finite distance to any lattice neighbour: non-finite input values?`);
    persistNeighbours(m, lat, t, status - 1);
  }
}
