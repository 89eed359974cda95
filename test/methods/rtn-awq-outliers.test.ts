import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { dequantizeLinear } from "../../src/formats/quantized-hf/index.js";
import { f16ToF32, f32ToF16 } from "../../src/numeric/half.js";
import { groupParams, paramsForRange, quantizeCode, roundHalfEven } from "../../src/methods/integer-scheme.js";
import { rtnQuantize } from "../../src/methods/rtn.js";
import { awqScales, clipWeights, quantizeScaled, weightMagnitudes } from "../../src/methods/awq.js";
import { collectOutliers, outlierSaliency, selectOutliers, storageBits } from "../../src/methods/outliers.js";
import type { WeightFormat } from "../../src/methods/weight-format.js";

const f16 = (x: number) => f16ToF32(f32ToF16(x));
const codesOf = (values: number[], scheme: Parameters<typeof groupParams>[2]) => {
  const p = groupParams((i) => values[i]!, values.length, scheme);
  return { p, codes: values.map((v) => quantizeCode(v, p, (1 << scheme.bits) - 1)) };
};

test("integer groups: GPTQ's range rules, worked by hand", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4].map(roundHalfEven), [0, 2, 2, 0, -2, 2]);
  // 2-bit asymmetric [-1, 0.5, 0.25, 2]: scale (2 − (−1)) / 3 = 1, zero round(1 / 1) = 1; 0.5 rounds to even 0.
  let r = codesOf([-1, 0.5, 0.25, 2], { bits: 2, groupSize: 4, symmetric: false });
  assert.deepEqual(r.p, { scale: 1, zero: 1 });
  assert.deepEqual(r.codes, [0, 1, 1, 3]);
  // 4-bit symmetric: scale 2·0.6 / 15 stored as fp16, zero 8.
  r = codesOf([0.3, -0.6, 0.1, 0], { bits: 4, groupSize: 4, symmetric: true });
  assert.equal(r.p.scale, f16(1.2 / 15));
  assert.equal(r.p.zero, 8);
  assert.deepEqual(r.codes, [12, 1, 9, 8]);
  // Ranges always include 0: an all-positive asymmetric group has zero point 0 ...
  assert.deepEqual(paramsForRange(0, 3, { bits: 4, groupSize: 4, symmetric: false }), { scale: f16(0.2), zero: 0 });
  // ... unless the layout needs zero ≥ 1 (GPTQ v1): then the scale widens so the maximum stays representable.
  const p = paramsForRange(0, 3, { bits: 4, groupSize: 4, symmetric: false, minZero: 1 });
  assert.deepEqual(p, { scale: f16(3 / 14), zero: 1 });
  assert.ok((quantizeCode(3, p, 15) - p.zero) * p.scale >= 3 - p.scale / 2);
  // An all-zero group gets GPTQ's [−1, 1].
  assert.deepEqual(paramsForRange(0, 0, { bits: 2, groupSize: 4, symmetric: false }), { scale: f16(2 / 3), zero: 2 });
  // A scale below fp16's range is the smallest subnormal, never 0.
  assert.equal(paramsForRange(-1e-12, 1e-12, { bits: 4, groupSize: 4, symmetric: true }).scale, 2 ** -24);
});

test("clip search never does worse on its own norm; RTN's stored form decodes to its values", () => {
  const rng = new SeededRandom(1);
  const rows = 8;
  const cols = 64;
  const w = Float32Array.from({ length: rows * cols }, (_, i) => rng.normal() * (i % 17 === 0 ? 6 : 1));
  for (const symmetric of [true, false]) {
    const scheme = { bits: 3, groupSize: 16, symmetric };
    const plain = rtnQuantize("w", w, rows, cols, { kind: "integer", scheme });
    const clipped = rtnQuantize("w", w, rows, cols, { kind: "integer", scheme: { ...scheme, clipSearch: true } });
    for (const q of [plain, clipped]) {
      assert.ok(q.weights.kind === "integer");
      assert.deepEqual(Array.from(dequantizeLinear(q.weights.linear)), Array.from(q.values));
    }
    for (let g = 0; g < rows * cols; g += 16) {
      const err = (v: Float32Array) => Array.from({ length: 16 }, (_, i) => Math.abs(v[g + i]! - w[g + i]!) ** 2.4).reduce((a, b) => a + b);
      assert.ok(err(clipped.values) <= err(plain.values) + 1e-12);
    }
  }
  assert.throws(() => rtnQuantize("blk.0.ffn_down.weight", w, rows, cols, { kind: "integer", scheme: { bits: 4, groupSize: 24, symmetric: true } }), /blk\.0\.ffn_down\.weight: group size 24 does not divide the row length 64/);
});

test("AWQ scales: s_x^α / (s_w^(1−α) + 1e-4), at least 1e-4, normalised by sqrt(max·min)", () => {
  const x = Float64Array.from([1, 4, 0.25, 0]);
  const wm = Float64Array.from([0.5, 0.25, 1, 0.5]);
  for (const ratio of [0, 0.35, 0.95]) {
    const raw = Array.from(x, (v, i) => Math.max(v ** ratio / (wm[i]! ** (1 - ratio) + 1e-4), 1e-4));
    const norm = Math.sqrt(Math.max(...raw) * Math.min(...raw));
    assert.deepEqual(Array.from(awqScales(x, wm, ratio)), raw.map((v) => v / norm));
  }
  // s_w: per column, the mean of |w| / (its group's max |w| + 1e-6).
  const w = Float32Array.from([1, -2, 0.5, 4, /* row 2 */ 3, 3, -1, 1]);
  const m = weightMagnitudes([{ name: "a", w, rows: 2 }], 4, 2);
  const expect = [(1 / (2 + 1e-6) + 3 / (3 + 1e-6)) / 2, (2 / (2 + 1e-6) + 3 / (3 + 1e-6)) / 2, (0.5 / (4 + 1e-6) + 1 / (1 + 1e-6)) / 2, (4 / (4 + 1e-6) + 1 / (1 + 1e-6)) / 2];
  Array.from(m).forEach((v, i) => assert.ok(Math.abs(v - expect[i]!) < 1e-15));
});

test("Q(W·s)/s is round-to-nearest when s = 1, and undoes a power-of-two scale exactly", () => {
  const rng = new SeededRandom(2);
  const w = Float32Array.from({ length: 4 * 32 }, () => rng.normal());
  const format: WeightFormat = { kind: "integer", scheme: { bits: 4, groupSize: 32, symmetric: false } };
  const ones = new Float64Array(32).fill(1);
  assert.deepEqual(quantizeScaled({ name: "w", w, rows: 4 }, 32, ones, format), rtnQuantize("w", w, 4, 32, format).values);
  // Scaling a whole group by 2 scales its range and values alike: the same codes, so Q(2W)/2 = Q(W).
  assert.deepEqual(quantizeScaled({ name: "w", w, rows: 4 }, 32, new Float64Array(32).fill(2), format), rtnQuantize("w", w, 4, 32, format).values);
});

test("AWQ clipping lowers each group's output error on the sampled inputs (or leaves the group alone)", () => {
  const rng = new SeededRandom(4);
  const rows = 16;
  const cols = 64;
  const tokens = 200;
  const w = Float32Array.from({ length: rows * cols }, (_, i) => rng.normal() * (i % 29 === 0 ? 8 : 1));
  const x = Float32Array.from({ length: tokens * cols }, () => rng.normal());
  const format: WeightFormat = { kind: "integer", scheme: { bits: 3, groupSize: 32, symmetric: false } };
  const clippedW = w.slice();
  const shrink = clipWeights({ name: "w", w: clippedW, rows }, cols, x, tokens, format);
  assert.ok(shrink.every((f) => f >= 0.55 - 1e-12 && f <= 1));
  assert.ok(shrink.some((f) => f < 1), "some group is clipped");
  const before = rtnQuantize("w", w, rows, cols, format).values;
  const after = rtnQuantize("w", clippedW, rows, cols, format).values;
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < 2; g++) {
      const err = (q: Float32Array) => {
        let e = 0;
        for (let t = 0; t < tokens; t++) {
          let s = 0;
          for (let i = g * 32; i < (g + 1) * 32; i++) s += x[t * cols + i]! * (q[r * cols + i]! - w[r * cols + i]!);
          e += s * s;
        }
        return e;
      };
      assert.ok(err(after) <= err(before) * (1 + 1e-6), `row ${r} group ${g}`);
    }
  }
});

test("outliers: the k most salient weights (ties to the lower index); bits per weight count the side list", () => {
  const s = Float64Array.from([5, 1, 5, 3, 9, 5, 0, 2]);
  assert.deepEqual(Array.from(selectOutliers(s, 0.375)), [1, 0, 1, 0, 1, 0, 0, 0]);
  assert.deepEqual(Array.from(selectOutliers(s, 0)), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => selectOutliers(s, 1), /outlier fraction/);
  // Activation saliency: |w| · sqrt(E[x²]) with E[x²] = H_cc / 2.
  const act = outlierSaliency(Float32Array.from([2, -3]), 1, 2, [8, 2], { bits: 4, groupSize: 2, symmetric: true }, "activation");
  assert.deepEqual(Array.from(act), [4, 3]);
  const side = collectOutliers(Uint8Array.from([0, 1, 0, 1]), Float32Array.from([9, 8, 7, 6]));
  assert.deepEqual({ i: Array.from(side.indices), v: Array.from(side.values) }, { i: [1, 3], v: [8, 6] });
  // 64 × 64, 4 bits, groups of 32, asymmetric: 4 bits + (16 + 4) / 32 per weight; each outlier adds 48 bits.
  const shape = { name: "l", outFeatures: 64, inFeatures: 64, bits: 4, groupSize: 32, symmetric: false };
  assert.equal(storageBits(shape, false) / 4096, 4.625);
  assert.equal(storageBits(shape, true, { indices: new Int32Array(10), values: new Float32Array(10) }) - storageBits(shape, false), 64 * 32 + 480);
});
