/**
 * Logits of stories260K against llama.cpp's f32 computation (f32 KV cache, flash attention off), and the
 * invariants of batching and caching: several sequences in one pass, or one sequence continued from its KV
 * cache, give the same logits as separate full passes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { logitsTokens, openStories, readF32 } from "./reference-data.js";

const skip = !hasSharedData && "shared reference data not found";

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("logits of the 128-token reference sequence match llama.cpp f32 (kv f32, no flash attention) within 1e-4", { skip }, async () => {
  const model = await openStories("f32");
  for (const cacheDequantized of [true, false]) {
    const engine = await LlamaEngine.create(model, { cacheDequantized });
    const out = await engine.forward(logitsTokens());
    assert.equal(out.vocabSize, 512);
    assert.deepEqual(out.sequences, [{ row: 0, count: 128, firstPosition: 0 }]);
    const diff = maxAbsDiff(out.logits, readF32("logits", "ts-head20k.f32-kvf32-nofa.logits.f32"));
    assert.ok(diff <= 1e-4, `max abs diff ${diff}`);
  }
  await model.close();
});

test("a batch of sequences gives each sequence's own logits; 'last' and {from} select rows", { skip }, async () => {
  const model = await openStories("Q8_0");
  const engine = await LlamaEngine.create(model);
  const t = logitsTokens();
  const a = t.slice(0, 70);
  const b = t.slice(30, 37);
  const [fa, fb] = [await engine.forward(a), await engine.forward(b)];
  const both = await engine.forwardBatch([a, b]);
  assert.deepEqual(both.sequences, [{ row: 0, count: 70, firstPosition: 0 }, { row: 70, count: 7, firstPosition: 0 }]);
  assert.equal(maxAbsDiff(both.logits.subarray(0, 70 * 512), fa.logits), 0);
  assert.equal(maxAbsDiff(both.logits.subarray(70 * 512), fb.logits), 0);

  const last = await engine.forwardBatch([a, b], { logits: "last" });
  assert.deepEqual(last.sequences, [{ row: 0, count: 1, firstPosition: 69 }, { row: 1, count: 1, firstPosition: 6 }]);
  assert.equal(maxAbsDiff(last.logits.subarray(0, 512), fa.logits.subarray(69 * 512)), 0);
  const from = await engine.forward(a, { logits: { from: 64 } });
  assert.equal(maxAbsDiff(from.logits, fa.logits.subarray(64 * 512)), 0);
  assert.equal((await engine.forward(a, { logits: "none" })).logits.length, 0);
  await model.close();
});

test("continuing from a KV cache gives the logits of the full pass", { skip }, async () => {
  const model = await openStories("f32");
  const engine = await LlamaEngine.create(model);
  const t = logitsTokens().slice(0, 50);
  const full = await engine.forward(t);
  const cache = engine.newCache(4);
  const parts = [t.slice(0, 20), t.slice(20, 21), t.slice(21, 50)];
  const rows: Float32Array[] = [];
  for (const p of parts) rows.push((await engine.forward(p, { caches: [cache] })).logits);
  assert.equal(cache.length, 50);
  const joined = new Float32Array(50 * 512);
  let o = 0;
  for (const r of rows) {
    joined.set(r, o);
    o += r.length;
  }
  assert.ok(maxAbsDiff(joined, full.logits) < 1e-6);
  await assert.rejects(engine.forward(new Array(100).fill(5), { caches: [cache] }), /exceeds the context limit of 128/);
  await model.close();
});

test("without output.weight the head is tied to token_embd (stories260K's output is a copy of it)", { skip }, async () => {
  const model = await openStories("f32");
  const tied = { ...model, tensors: model.tensors.filter((t) => t.name !== "output.weight") };
  const out = await (await LlamaEngine.create(tied)).forward(logitsTokens());
  assert.ok(maxAbsDiff(out.logits, readF32("logits", "ts-head20k.f32-kvf32-nofa.logits.f32")) <= 1e-4);
  await model.close();
});
