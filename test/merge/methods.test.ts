/**
 * Every merge method on small hand-made tensors, against values worked out by hand (signs, trims and drops
 * below are computed in the comments) or an independent float64 computation, plus the invariants each method
 * must satisfy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MERGE_METHODS, getMergeMethod } from "../../src/merge/index.js";
import { SeededRandom } from "../../src/core/index.js";
import { assertClose, f32, runMethod } from "./method-helpers.js";

const method = (name: string) => getMergeMethod(name);
const plus = (a: readonly number[], b: readonly number[]) => a.map((v, i) => v + b[i]!);

test("the registry has mergekit's names for every method", () => {
  assert.deepEqual(
    [...MERGE_METHODS.keys()].sort(),
    ["breadcrumbs", "breadcrumbs_ties", "dare_linear", "dare_ties", "linear", "model_stock", "passthrough", "slerp", "task_arithmetic", "ties"],
  );
  assert.throws(() => getMergeMethod("della"), /della.*not implemented/);
  assert.throws(() => getMergeMethod("foo"), /unknown merge method "foo"; available: linear/);
});

test("linear: weighted average, normalized or not; identical models give the model back", async () => {
  const a = [1, -2, 3.5, 0.25];
  const b = [3, 2, -0.5, 4];
  // (1·a + 3·b) / 4 and 1·a + 3·b
  assertClose(await runMethod(method("linear"), [{ values: a, params: { weight: 1 } }, { values: b, params: { weight: 3 } }]), [2.5, 1, 0.5, 3.0625], 1e-6, "normalized");
  assertClose(
    await runMethod(method("linear"), [{ values: a, params: { weight: 1 } }, { values: b, params: { weight: 3 } }], { normalize: false }),
    [10, 4, 2, 12.25],
    1e-6,
    "unnormalized",
  );
  const rng = new SeededRandom(5);
  const x = f32(Array.from({ length: 257 }, () => rng.normal()));
  for (const weights of [[1, 1], [0.3, 0.7, 1.9]]) {
    const out = await runMethod(
      method("linear"),
      weights.map((w) => ({ values: x, params: { weight: w } })),
    );
    assert.deepEqual(out, x, `weights ${weights}`);
  }
});

test("task_arithmetic: base + lambda · Σ w·(m - base); lambda 0 is the base exactly", async () => {
  const base = [1, 2, 3];
  const m1 = [2, 2, 1]; // delta [1, 0, -2]
  const m2 = [0, 4, 3]; // delta [-1, 2, 0]
  const inputs = [{ values: base, isBase: true }, { values: m1, params: { weight: 0.5 } }, { values: m2, params: { weight: 2 } }];
  // 0.5·[1,0,-2] + 2·[-1,2,0] = [-1.5, 4, -1]; lambda 0.5 -> [-0.75, 2, -0.5]
  assertClose(await runMethod(method("task_arithmetic"), inputs, { lambda: 0.5 }), [0.25, 4, 2.5], 1e-6, "lambda 0.5");
  // normalize divides by Σw = 2.5: [-0.6, 1.6, -0.4]
  assertClose(await runMethod(method("task_arithmetic"), inputs, { normalize: true }), [0.4, 3.6, 2.6], 1e-6, "normalize");
  const rng = new SeededRandom(9);
  const rand = () => f32(Array.from({ length: 100 }, () => rng.normal()));
  const b = rand();
  const out = await runMethod(method("task_arithmetic"), [{ values: b, isBase: true }, { values: rand(), params: { weight: 1 } }, { values: rand(), params: { weight: -0.7 } }], { lambda: 0 });
  assert.deepEqual(out, b);
});

// Base and two models whose deltas are d1 and d2.
const TIES_BASE = [1, 1, 1, 1, 1, 1];
const D1 = [0.5, -0.2, 0.1, -0.4, 0.0, 0.3];
const D2 = [-0.3, -0.1, 0.6, 0.2, 0.05, -0.3];

test("ties: trim to density by magnitude, elect signs by the weighted sum, average agreeing deltas", async () => {
  // density 0.5 keeps int(0.5·6) = 3 values of each delta:
  //   d1 |.| = .5 .2 .1 .4 0 .3  -> keeps .5 (0), .4 (3), .3 (5): [0.5, 0, 0, -0.4, 0, 0.3]
  //   d2 |.| = .3 .1 .6 .2 .05 .3 -> keeps .6 (2), .3 (0), .3 (5): [-0.3, 0, 0.6, 0, 0, -0.3]
  // weights 1 and 0.5: w·d2 = [-0.15, 0, 0.3, 0, 0, -0.15]
  // sums [0.35, 0, 0.3, -0.4, 0, 0.15] -> elected signs + + + - + +   (a zero sum elects +)
  // agreeing: 0: d1 only -> 0.5/1; 1: none -> 0; 2: d2 only -> 0.3/0.5 = 0.6; 3: d1 -> -0.4/1; 4: none; 5: d1 -> 0.3/1
  const inputs = [
    { values: TIES_BASE, isBase: true },
    { values: plus(TIES_BASE, D1), params: { weight: 1, density: 0.5 } },
    { values: plus(TIES_BASE, D2), params: { weight: 0.5, density: 0.5 } },
  ];
  assertClose(await runMethod(method("ties"), inputs), plus(TIES_BASE, [0.5, 0, 0.6, -0.4, 0, 0.3]), 1e-6, "normalized");
  // normalize: false adds the agreeing weighted deltas: [0.5, 0, 0.3, -0.4, 0, 0.3]
  assertClose(await runMethod(method("ties"), inputs, { normalize: false }), plus(TIES_BASE, [0.5, 0, 0.3, -0.4, 0, 0.3]), 1e-6, "unnormalized");
});

test("ties with one model is the base plus its trimmed delta, whatever its weight", async () => {
  const rng = new SeededRandom(3);
  const base = f32(Array.from({ length: 50 }, () => rng.normal()));
  const delta = Array.from({ length: 50 }, (_, i) => (i % 2 ? 1 : -1) * (i + 1) * 0.01); // distinct magnitudes
  const model = f32(plus(base, delta));
  const realDelta = model.map((v, i) => Math.fround(v - base[i]!));
  // density 0.3 keeps int(15) = 15 values: those with the 15 largest |delta| (indices 35..49).
  const trimmed = realDelta.map((v, i) => (i >= 35 ? v : 0));
  for (const weight of [1, 0.3, 4]) {
    const out = await runMethod(method("ties"), [{ values: base, isBase: true }, { values: model, params: { weight, density: 0.3 } }]);
    assertClose(out, plus(base, trimmed), 1e-6, `weight ${weight}`);
  }
});

test("ties refuses a density that keeps nothing while planning", () => {
  const ties = method("ties");
  const job = { tensorName: "x", shape: [3], params: {}, inputs: [{ model: "m", isBase: false, params: { weight: 1, density: 0.2 }, load: async () => new Float32Array(3), random: () => new SeededRandom(0) }] };
  assert.match(ties.checkTensor!(job)!, /density 0.2 keeps none of the 3 values/);
});

test("dare: the same seed gives the same result; kept fraction is density; the expected value is the delta", async () => {
  const n = 2000;
  const rng = new SeededRandom(11);
  const base = f32(Array.from({ length: n }, () => rng.normal()));
  const model = f32(base.map((v) => v + 0.1 * rng.normal()));
  const delta = model.map((v, i) => Math.fround(v - base[i]!));
  const density = 0.3;
  const run = (seed: number) => runMethod(method("dare_linear"), [{ values: base, isBase: true }, { values: model, params: { weight: 1, density }, seed }]);
  assert.deepEqual(await run(7), await run(7));
  assert.notDeepEqual(await run(7), await run(8));

  const seeds = 400;
  const mean = new Float64Array(n);
  let kept = 0;
  for (let s = 0; s < seeds; s++) {
    const out = await run(s);
    for (let i = 0; i < n; i++) {
      const d = out[i]! - base[i]!;
      mean[i] += d / seeds;
      if (out[i] !== base[i]) kept++;
    }
  }
  const fraction = kept / (n * seeds);
  assert.ok(Math.abs(fraction - density) < 0.005, `kept fraction ${fraction}`);
  // Projection of the mean on the delta: 1 when unbiased (its sampling error is about 0.002 here).
  let dot = 0;
  let norm2 = 0;
  let err2 = 0;
  for (let i = 0; i < n; i++) {
    dot += mean[i]! * delta[i]!;
    norm2 += delta[i]! ** 2;
    err2 += (mean[i]! - delta[i]!) ** 2;
  }
  assert.ok(Math.abs(dot / norm2 - 1) < 0.01, `projection ${dot / norm2}`);
  // Per element the mean of 400 draws is within about 7% (1.5/sqrt(400)) of the delta.
  assert.ok(Math.sqrt(err2 / norm2) < 0.1, `relative error ${Math.sqrt(err2 / norm2)}`);
});

test("dare_ties: drops then TIES sign election", async () => {
  // density 1 drops nothing, so dare_ties is sign election over the full deltas (no normalization by default):
  // w·d1 = [0.5,-0.2,0.1,-0.4,0,0.3], w·d2 = 0.5·d2 = [-0.15,-0.05,0.3,0.1,0.025,-0.15]
  // sums [0.35,-0.25,0.4,-0.3,0.025,0.15] -> signs + - + - + +
  // agreeing sums: [0.5, -0.25, 0.4, -0.4, 0.025, 0.3]
  const inputs = [
    { values: TIES_BASE, isBase: true },
    { values: plus(TIES_BASE, D1), params: { weight: 1, density: 1 } },
    { values: plus(TIES_BASE, D2), params: { weight: 0.5, density: 1 } },
  ];
  assertClose(await runMethod(method("dare_ties"), inputs), plus(TIES_BASE, [0.5, -0.25, 0.4, -0.4, 0.025, 0.3]), 1e-6, "dare_ties");
});

test("breadcrumbs: drops the gamma fraction of largest and the smallest magnitudes, keeping density", async () => {
  const n = 1000;
  const rng = new SeededRandom(21);
  const base = f32(Array.from({ length: n }, () => rng.normal()));
  // A permutation of distinct magnitudes 1..n (times 1e-3), with random signs.
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const delta = order.map((r) => (rng.next() < 0.5 ? -1 : 1) * (r + 1) * 1e-3);
  const model = f32(plus(base, delta));
  const out = await runMethod(method("breadcrumbs"), [{ values: base, isBase: true }, { values: model, params: { weight: 1, density: 0.8, gamma: 0.05 } }]);
  // int(0.8·1000) = 800 kept, int(0.05·1000) = 50 largest dropped, so the 150 smallest dropped: ranks 150..949 stay.
  let kept = 0;
  for (let i = 0; i < n; i++) {
    const stays = order[i]! >= 150 && order[i]! < 950;
    if (stays) {
      kept++;
      assert.ok(Math.abs(out[i]! - model[i]!) < 1e-6, `element ${i} (rank ${order[i]}) kept`);
    } else {
      assert.equal(out[i], base[i], `element ${i} (rank ${order[i]}) dropped`);
    }
  }
  assert.equal(kept, 800);
});

test("breadcrumbs_ties: outlier and small-value drops, then sign election", async () => {
  // density 0.5, gamma 1/6: of 6 values keep 3, drop int(1) largest and 6-3-1 = 2 smallest.
  //   d1 |.| ranks (ascending): 0.0(4) .1(2) .2(1) .3(5) .4(3) .5(0) -> keep ranks 2..4: indices 1, 5, 3 -> [0,-0.2,0,-0.4,0,0.3]
  //   d2 |.| = .3 .1 .6 .2 .05 .3: ascending .05(4) .1(1) .2(3) .3(0) .3(5) .6(2) -> keep 3, 0, 5 -> [-0.3,0,0,0.2,0,-0.3]
  // weights 1 and 0.9: 0.9·d2 kept = [-0.27,0,0,0.18,0,-0.27]
  // sums [-0.27,-0.2,0,-0.22,0,0.03] -> signs - - + - + +
  // agreeing: 0: d2 -0.27; 1: d1 -0.2; 2: none; 3: d1 -0.4 (d2 disagrees); 4: none; 5: d1 0.3 (d2 disagrees)
  const inputs = [
    { values: TIES_BASE, isBase: true },
    { values: plus(TIES_BASE, D1), params: { weight: 1, density: 0.5, gamma: 1 / 6 } },
    { values: plus(TIES_BASE, D2), params: { weight: 0.9, density: 0.5, gamma: 1 / 6 } },
  ];
  assertClose(await runMethod(method("breadcrumbs_ties"), inputs), plus(TIES_BASE, [-0.27, -0.2, 0, -0.4, 0, 0.3]), 1e-6, "breadcrumbs_ties");
});

test("slerp: endpoints at t = 0 and 1, the spherical formula between, linear when nearly parallel", async () => {
  const rng = new SeededRandom(2);
  const a = f32(Array.from({ length: 300 }, () => rng.normal()));
  const b = f32(Array.from({ length: 300 }, () => rng.normal()));
  const slerp = method("slerp");
  const run = (t: number, v0: number[], v1: number[]) => runMethod(slerp, [{ values: v0, isBase: true }, { values: v1 }], { t });
  assert.deepEqual(await run(0, a, b), a);
  assert.deepEqual(await run(1, a, b), b);

  // Orthogonal vectors of norms 2 and 3: the angle is 90°, and at t = 1/3 the coefficients are
  // sin(60°)/sin(90°) and sin(30°)/sin(90°).
  const out = await run(1 / 3, [2, 0, 0], [0, 3, 0]);
  assertClose(out, [2 * Math.sin(Math.PI / 3), 3 * Math.sin(Math.PI / 6), 0], 1e-6, "orthogonal");

  // General case against a float64 computation of the same formula.
  const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
  const cos = a.reduce((s, x, i) => s + x * b[i]!, 0) / (norm(a) * norm(b));
  const theta = Math.acos(cos);
  const t = 0.3;
  const expected = a.map((x, i) => (Math.sin((1 - t) * theta) / Math.sin(theta)) * x + (Math.sin(t * theta) / Math.sin(theta)) * b[i]!);
  assertClose(await run(t, a, b), expected, 2e-6, "random");

  // |cos| > 0.9995: plain interpolation (1 - t)·a + t·c.
  const c = f32(a.map((x) => x * 1.5 + 0.001 * rng.normal()));
  assertClose(await run(0.25, a, c), a.map((x, i) => 0.75 * x + 0.25 * c[i]!), 1e-6, "near-parallel");
});

test("model_stock: t = N·cos / (1 + (N-1)·cos) from the task vectors' mean cosine, per tensor or per row", async () => {
  const ms = method("model_stock");
  const base = [1, 1, 1, 1];
  // Orthogonal task vectors: cos 0, t 0 -> the base.
  assertClose(await runMethod(ms, [{ values: base, isBase: true }, { values: [2, 1, 1, 1] }, { values: [1, 2, 1, 1] }]), base, 1e-7, "orthogonal");
  // Identical task vectors: cos 1, t = 2/2 = 1 -> their average.
  assertClose(await runMethod(ms, [{ values: base, isBase: true }, { values: [2, 3, 1, 1] }, { values: [2, 3, 1, 1] }]), [2, 3, 1, 1], 1e-6, "identical");
  // Task vectors [1,0,0,0] and [0.5, √3/2, 0, 0]: cos 0.5, t = 1/1.5 = 2/3; mean offset [0.75, √3/4, 0, 0].
  const s3 = Math.sqrt(3);
  assertClose(
    await runMethod(ms, [{ values: base, isBase: true }, { values: [2, 1, 1, 1] }, { values: [1.5, 1 + s3 / 2, 1, 1] }]),
    [1 + (2 / 3) * 0.75, 1 + ((2 / 3) * s3) / 4, 1, 1],
    1e-6,
    "cos 0.5",
  );
  // filter_wise on 2 rows of 2: row 0 has identical offsets (t 1), row 1 orthogonal ones (t 0).
  assertClose(
    await runMethod(ms, [{ values: base, isBase: true }, { values: [2, 2, 2, 1] }, { values: [2, 2, 1, 2] }], { filter_wise: true }, [2, 2]),
    [2, 2, 1, 1],
    1e-6,
    "filter_wise",
  );
  assert.match(ms.checkSources!(2)!, /at least two other models/);
});

test("passthrough: the one input, optionally scaled", async () => {
  assert.deepEqual(await runMethod(method("passthrough"), [{ values: [1, -2, 3] }]), [1, -2, 3]);
  assert.deepEqual(await runMethod(method("passthrough"), [{ values: [1, -2, 3], params: { scale: 0.5 } }]), [0.5, -1, 1.5]);
  assert.match(method("passthrough").checkSources!(2)!, /exactly one source/);
});
