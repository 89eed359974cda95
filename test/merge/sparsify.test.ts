/** The selection and sparsification primitives against sorting and hand-worked cases. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { breadcrumbsKept, keepRanks, kthSmallest, sparsifyMagnitude, sparsifyMagnitudeOutliers, sparsifyRandom } from "../../src/merge/sparsify.js";

/** The values with -0 (what a mask multiplies a dropped negative into) shown as 0. */
const plain = (v: Float32Array) => [...v].map((x) => x + 0);

test("kthSmallest agrees with sorting, duplicates included", () => {
  const rng = new SeededRandom(1);
  for (const [n, distinct] of [[1, 1], [7, 3], [1000, 1000], [1000, 4], [5000, 50]] as const) {
    const values = Float32Array.from({ length: n }, () => rng.int(distinct) - distinct / 2);
    const sorted = values.slice().sort();
    for (const k of [0, Math.floor(n / 3), n - 1]) assert.equal(kthSmallest(values.slice(), k), sorted[k], `n ${n} k ${k}`);
  }
});

test("keepRanks keeps magnitude ranks [lo, hi), equal magnitudes ranked by position", () => {
  const v = Float32Array.from([-3, 1, 2, -1, 1, 0.5]);
  // ascending magnitudes: 0.5(5) 1(1) 1(3) 1(4) 2(2) 3(0); ranks 1..3 are indices 1, 3, 4
  keepRanks(v, 1, 4);
  assert.deepEqual(plain(v), [0, 1, 0, -1, 1, 0]);
  const same = Float32Array.from([1, 1, 1, 1]);
  keepRanks(same, 1, 3);
  assert.deepEqual(plain(same), [0, 1, 1, 0]);
});

test("magnitude trimming keeps int(density·n) values and rescales to the L1 norm when asked", () => {
  const v = Float32Array.from([4, -1, 2, 0.5]);
  sparsifyMagnitude(v, 0.5, false);
  assert.deepEqual(plain(v), [4, 0, 2, 0]);
  const r = Float32Array.from([4, -1, 2, 0.5]);
  // |.| sums: 7.5 before, 6 after: factor 1.25
  sparsifyMagnitude(r, 0.5, true);
  assert.deepEqual(plain(r), [5, 0, 2.5, 0]);
  const all = Float32Array.from([4, -1]);
  sparsifyMagnitude(all, 1, true);
  assert.deepEqual([...all], [4, -1]);
});

test("random drops follow the generator in element order and rescale to the L1 norm", () => {
  const v = Float32Array.from({ length: 8 }, (_, i) => i + 1);
  const rng = new SeededRandom(4);
  const draws = Array.from({ length: 8 }, () => rng.next() < 0.5);
  sparsifyRandom(v, 0.5, false, new SeededRandom(4));
  assert.deepEqual([...v], draws.map((keep, i) => (keep ? i + 1 : 0)));
  const w = Float32Array.from({ length: 8 }, (_, i) => i + 1);
  sparsifyRandom(w, 0.5, true, new SeededRandom(4));
  const keptSum = draws.reduce((s, keep, i) => s + (keep ? i + 1 : 0), 0);
  const factor = Math.fround(36 / keptSum);
  assert.deepEqual([...w], draws.map((keep, i) => (keep ? Math.fround((i + 1) * factor) : 0)));
});

test("breadcrumbs counts: mergekit's arithmetic, including fewer outliers when the density needs them", () => {
  assert.deepEqual(breadcrumbsKept(1000, 0.8, 0.05), { bottom: 150, top: 50 });
  // target 99, 5 outliers would leave -4 small ones: only 1 outlier dropped.
  assert.deepEqual(breadcrumbsKept(100, 0.99, 0.05), { bottom: 0, top: 1 });
  // int(gamma·n) = 0: no outlier dropped. (mergekit slices indices[n_bot:-0], which is empty and drops
  // everything; bitsmith keeps the density asked for.)
  const v = Float32Array.from([1, 2, 3, 4]);
  sparsifyMagnitudeOutliers(v, 0.5, 0.1, false);
  assert.deepEqual([...v], [0, 0, 3, 4]);
});
