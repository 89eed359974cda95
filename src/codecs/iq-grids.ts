/**
 * The lattices of ggml's grid-based i-quants and the lookup structures llama.cpp builds from them at
 * ggml_quantize_init (iq2xs_init_impl / iq3xs_init_impl):
 *
 * - A point of a lattice has `dim` coordinates (8 for IQ1/IQ2, 4 for IQ3), each a level index 0..levels-1.
 *   Dequantization maps levels to the byte values of ggml-common.h's tables (e.g. 8, 25, 43 for IQ2).
 * - The quantizers round each value to a level, giving a key u (level i in bits [bits*i, bits*i + bits)).
 *   If u is a lattice point (`kmap[u] >= 0`) it is used; otherwise the best of its neighbours is: every lattice
 *   point in the `nwant` nearest distinct squared distances from u, ordered by (distance, index), exactly the
 *   list llama.cpp gets from its qsort with a (distance, index) comparator (a total order, so no ties).
 *   Neighbour lists are built on first use per key, since a quantizer only ever asks for a few thousand keys.
 */
import { KGRID_IQ1S, KGRID_IQ2S, KGRID_IQ2XS, KGRID_IQ2XXS, KGRID_IQ3S, KGRID_IQ3XXS } from "./iq-grids-data.js";

export interface IqLattice {
  /** Number of lattice points. */
  readonly size: number;
  /** Coordinates per point. */
  readonly dim: number;
  /** Bits per coordinate in a key. */
  readonly bits: number;
  /** levels[k*dim + i]: level index of coordinate i of point k. */
  readonly levels: Uint8Array;
  /** values[k*dim + i]: ggml-common.h's byte value of that coordinate (signed for IQ1), as used by to_float. */
  readonly values: Float32Array;
  /** Number of levels per coordinate. */
  readonly levelCount: number;
  /**
   * termIndex[k*dim + i] = i*levelCount + level: where coordinate i of point k finds its term in a table of
   * per-(coordinate, level) terms, so a distance to a point is a sum of `dim` looked-up terms.
   */
  readonly termIndex: Uint8Array;
  /** Key -> point index, or -1 when the key is not a lattice point. */
  readonly kmap: Int32Array;
  /** How many distinct distances the neighbour lists span. */
  readonly nwant: number;
  /** Neighbour lists by key, filled on first use. */
  readonly neighbourCache: (NeighbourList | undefined)[];
}

/** The neighbours of a key, and per coordinate the range of levels they use (what a scorer must tabulate). */
export interface NeighbourList {
  readonly points: Uint16Array;
  readonly lowLevel: Uint8Array;
  readonly highLevel: Uint8Array;
  /** termIndex of each coordinate of each point, in list order (points.length * dim): what a scorer reads. */
  readonly pointTerms: Uint8Array;
  /** The (coordinate, level) pairs the points use, as termIndex values: what a scorer must tabulate. */
  readonly termList: Uint8Array;
}

function makeLattice(packed: Uint16Array, dim: number, bits: number, levelValues: readonly number[], nwant: number): IqLattice {
  const size = packed.length;
  const mask = (1 << bits) - 1;
  const levels = new Uint8Array(size * dim);
  const values = new Float32Array(size * dim);
  const levelCount = levelValues.length;
  const termIndex = new Uint8Array(size * dim);
  const kmap = new Int32Array(1 << (bits * dim)).fill(-1);
  for (let k = 0; k < size; k++) {
    for (let i = 0; i < dim; i++) {
      const l = (packed[k]! >> (bits * i)) & mask;
      levels[k * dim + i] = l;
      values[k * dim + i] = levelValues[l]!;
      termIndex[k * dim + i] = i * levelCount + l;
    }
    kmap[packed[k]!] = k;
  }
  return { size, dim, bits, levels, values, levelCount, termIndex, kmap, nwant, neighbourCache: new Array<NeighbourList | undefined>(kmap.length) };
}

const IQ2_VALUES = [8, 25, 43];
/** IQ2_XXS: 256 points of E8-like 8-vectors with levels {8, 25, 43}/8. */
export const IQ2XXS_LATTICE = makeLattice(KGRID_IQ2XXS, 8, 2, IQ2_VALUES, 2);
export const IQ2XS_LATTICE = makeLattice(KGRID_IQ2XS, 8, 2, IQ2_VALUES, 2);
export const IQ2S_LATTICE = makeLattice(KGRID_IQ2S, 8, 2, IQ2_VALUES, 1);
/** IQ1_S and IQ1_M share one grid of ternary 8-vectors. */
export const IQ1S_LATTICE = makeLattice(KGRID_IQ1S, 8, 2, [-1, 0, 1], 3);
export const IQ3XXS_LATTICE = makeLattice(KGRID_IQ3XXS, 4, 3, [4, 12, 20, 28, 36, 44, 52, 62], 2);
export const IQ3S_LATTICE = makeLattice(KGRID_IQ3S, 4, 3, [1, 3, 5, 7, 9, 11, 13, 15], 3);

/**
 * The lattice points nearest to key `u` (which must not be a lattice point): those at the `nwant` smallest
 * distinct squared distances, in (distance, index) order. Distances between level vectors order the same as
 * llama.cpp's distances between its positions 2*level+1.
 */
export function neighbours(lat: IqLattice, u: number): NeighbourList {
  const cached = lat.neighbourCache[u];
  if (cached) return cached;
  const { size, dim, bits, levels } = lat;
  const mask = (1 << bits) - 1;
  const key = new Int32Array(dim);
  for (let i = 0; i < dim; i++) key[i] = (u >> (bits * i)) & mask;
  const dist = new Int32Array(size);
  for (let k = 0; k < size; k++) {
    let d2 = 0;
    for (let i = 0; i < dim; i++) {
      const diff = levels[k * dim + i]! - key[i]!;
      d2 += diff * diff;
    }
    dist[k] = d2;
  }
  const list: number[] = [];
  let below = -1;
  for (let shell = 0; shell < lat.nwant; shell++) {
    // The next distinct distance above the previous shell.
    let next = Infinity;
    for (let k = 0; k < size; k++) if (dist[k]! > below && dist[k]! < next) next = dist[k]!;
    if (next === Infinity) break;
    for (let k = 0; k < size; k++) if (dist[k] === next) list.push(k);
    below = next;
  }
  const lowLevel = new Uint8Array(dim).fill(255);
  const highLevel = new Uint8Array(dim);
  for (const k of list) {
    for (let i = 0; i < dim; i++) {
      const l = levels[k * dim + i]!;
      if (l < lowLevel[i]!) lowLevel[i] = l;
      if (l > highLevel[i]!) highLevel[i] = l;
    }
  }
  const pointTerms = new Uint8Array(list.length * dim);
  list.forEach((k, j) => pointTerms.set(lat.termIndex.subarray(k * dim, k * dim + dim), j * dim));
  const termList = Uint8Array.from(new Set(pointTerms)).sort();
  const result: NeighbourList = { points: Uint16Array.from(list), lowLevel, highLevel, pointTerms, termList };
  lat.neighbourCache[u] = result;
  return result;
}

/**
 * ksigns_iq2xs: a 7-bit sign pattern extended with an eighth sign bit that makes the number of set bits even
 * (IQ2_XXS, IQ2_XS and IQ3_XXS store 7 signs per 8 values; the quantizer makes the eighth implicit).
 */
export const KSIGNS_IQ2XS: Uint8Array = (() => {
  const t = new Uint8Array(128);
  for (let i = 0; i < 128; i++) {
    let parity = 0;
    for (let b = 0; b < 7; b++) parity ^= (i >> b) & 1;
    t[i] = i | (parity << 7);
  }
  return t;
})();
