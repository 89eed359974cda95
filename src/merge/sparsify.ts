/**
 * Sparsification of task vectors as mergekit's sparsify.py does it, in place on float32 arrays:
 * - magnitude (TIES): keep the `density` fraction of largest magnitudes;
 * - random (DARE): keep each value with probability `density`;
 * - magnitude outliers (Model Breadcrumbs): drop the `gamma` fraction of largest magnitudes and then the
 *   smallest, keeping `density` of the values;
 * optionally rescaling what is kept to the L1 norm of the whole (mergekit's `rescale`, RescaleNorm.l1).
 *
 * Ranks order values by magnitude and, between equal magnitudes, by position (torch's sorts leave that order
 * unspecified). Selection is linear-time (quickselect), not a sort of the whole tensor.
 */
import type { SeededRandom } from "../core/index.js";

/** mergekit's eps in rescaled_masked_tensor: below it a norm counts as zero and nothing is rescaled. */
const RESCALE_EPS = 1e-7;

function l1(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += Math.abs(values[i]!);
  return s;
}

/** Multiplies the kept values so their L1 norm is `before` again, unless either norm is about zero. */
function rescaleL1(values: Float32Array, before: number): void {
  const after = l1(values);
  if (Math.fround(before) < RESCALE_EPS || Math.fround(after) < RESCALE_EPS) return;
  // torch divides the two float32 sums and multiplies in float32.
  const factor = Math.fround(Math.fround(before) / Math.fround(after));
  for (let i = 0; i < values.length; i++) values[i] = values[i]! * factor;
}

/** The value of rank `k` (0-based, ascending) of `scratch`, which is reordered. Three-way quickselect. */
export function kthSmallest(scratch: Float32Array, k: number): number {
  let lo = 0;
  let hi = scratch.length - 1;
  for (;;) {
    if (lo === hi) return scratch[lo]!;
    const a = scratch[lo]!;
    const b = scratch[(lo + hi) >>> 1]!;
    const c = scratch[hi]!;
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    // Dutch flag partition: [lo, lt) < pivot, [lt, gt] == pivot, (gt, hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = scratch[i]!;
      if (v < pivot) {
        scratch[i] = scratch[lt]!;
        scratch[lt++] = v;
        i++;
      } else if (v > pivot) {
        scratch[i] = scratch[gt]!;
        scratch[gt--] = v;
      } else {
        i++;
      }
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
}

/**
 * Which elements rank below `rank`: those with magnitude below `value`, and the first `ties` (by position)
 * of those equal to it.
 */
interface RankCut {
  value: number;
  ties: number;
}

function rankCut(values: Float32Array, rank: number): RankCut {
  if (rank <= 0) return { value: -Infinity, ties: 0 };
  if (rank >= values.length) return { value: Infinity, ties: Infinity };
  const magnitudes = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) magnitudes[i] = Math.abs(values[i]!);
  const value = kthSmallest(magnitudes, rank);
  let below = 0;
  for (let i = 0; i < values.length; i++) if (Math.abs(values[i]!) < value) below++;
  return { value, ties: rank - below };
}

/**
 * Zeroes every element whose magnitude rank is outside [lo, hi), by multiplying it with a 0/1 mask as mergekit
 * does (so a dropped NaN stays NaN and a dropped negative becomes -0).
 */
export function keepRanks(values: Float32Array, lo: number, hi: number): void {
  const n = values.length;
  if (lo <= 0 && hi >= n) return;
  const low = rankCut(values, lo);
  const high = rankCut(values, hi);
  let lowSeen = 0;
  let highSeen = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    const m = Math.abs(v);
    if (m === low.value || m === high.value) {
      // Equal to a cut: the first `ties` such elements rank below it.
      const aboveLow = m > low.value || (m === low.value && lowSeen++ >= low.ties);
      const belowHigh = m < high.value || (m === high.value && highSeen++ < high.ties);
      values[i] = aboveLow && belowHigh ? v : v * 0;
    } else {
      values[i] = m > low.value && m < high.value ? v : v * 0;
    }
  }
}

/** TIES trimming: keeps the int(density * n) largest magnitudes. Density >= 1 keeps everything. */
export function sparsifyMagnitude(values: Float32Array, density: number, rescale: boolean): void {
  if (density >= 1) return;
  const before = rescale ? l1(values) : 0;
  const k = Math.floor(density * values.length);
  keepRanks(values, values.length - k, values.length);
  if (rescale) rescaleL1(values, before);
}

/** The number of values TIES trimming keeps, which mergekit refuses to let reach zero. */
export function magnitudeKeepCount(count: number, density: number): number {
  return density >= 1 ? count : Math.floor(density * count);
}

/** DARE: keeps each value with probability `density` (a Bernoulli mask drawn from `rng` in element order, multiplied in). */
export function sparsifyRandom(values: Float32Array, density: number, rescale: boolean, rng: SeededRandom): void {
  if (density >= 1) return;
  const before = rescale ? l1(values) : 0;
  for (let i = 0; i < values.length; i++) if (!(rng.next() < density)) values[i] = values[i]! * 0;
  if (rescale) rescaleL1(values, before);
}

/** The ranks [bottom, count - top) Model Breadcrumbs keeps, by mergekit's arithmetic. */
export function breadcrumbsKept(count: number, density: number, gamma: number): { bottom: number; top: number } {
  const target = Math.floor(density * count);
  let top = Math.floor(gamma * count);
  let bottom = count - target - top;
  if (bottom < 0) {
    // Remove fewer large values so the density can be reached.
    top += bottom;
    bottom = 0;
  }
  return { bottom, top };
}

/**
 * Model Breadcrumbs: drops the `gamma` fraction of largest magnitudes and the smallest, keeping `density`.
 * Density >= 1 keeps everything (mergekit returns the tensor unchanged, outliers included).
 */
export function sparsifyMagnitudeOutliers(values: Float32Array, density: number, gamma: number, rescale: boolean): void {
  if (density >= 1) return;
  const before = rescale ? l1(values) : 0;
  const { bottom, top } = breadcrumbsKept(values.length, density, gamma);
  keepRanks(values, bottom, values.length - top);
  if (rescale) rescaleL1(values, before);
}
