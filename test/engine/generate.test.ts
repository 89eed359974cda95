/** Generation: greedy decoding follows llama.cpp's logits, the KV-cache path equals full recomputation, sampling repeats with its seed. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { LlamaEngine, generateTokens, sampleToken } from "../../src/engine/index.js";
import { hasSharedData } from "../helpers/paths.js";
import { logitsTokens, openStories, readF32 } from "./reference-data.js";

const skip = !hasSharedData && "shared reference data not found";
const argmax = (a: Float32Array) => a.reduce((best, v, i) => (v > a[best]! ? i : best), 0);

test("greedy generation: first token is the argmax of llama.cpp's logits; cached steps equal full recomputation", { skip }, async () => {
  const model = await openStories("f32");
  const engine = await LlamaEngine.create(model);
  const reference = readF32("logits", "ts-head20k.f32-kvf32-nofa.logits.f32");
  for (const k of [5, 17, 40]) {
    const prompt = logitsTokens().slice(0, k);
    const out = await generateTokens(engine, prompt, { maxTokens: 12 });
    assert.equal(out[0], argmax(reference.subarray((k - 1) * 512, k * 512)));
    const seq = [...prompt];
    for (const id of out) {
      const { logits } = await engine.forward(seq, { logits: "last" });
      assert.equal(id, argmax(logits));
      seq.push(id);
    }
  }
  await assert.rejects(generateTokens(engine, logitsTokens().slice(0, 100), { maxTokens: 64 }), /exceed the model's context of 128/);
  await model.close();
});

test("sampling: temperature 0 is argmax, a seed repeats, top-p keeps only the nucleus", () => {
  const logits = Float32Array.from([1, 3, 2.5, -1, 0]);
  assert.equal(sampleToken(logits, { temperature: 0 }, new SeededRandom(1)), 1);
  const draw = (seed: number, topP: number) => Array.from({ length: 50 }, ((r) => () => sampleToken(logits, { temperature: 1, topP }, r))(new SeededRandom(seed)));
  assert.deepEqual(draw(4, 0.95), draw(4, 0.95));
  // p = softmax: token 1 ≈ 0.55, token 2 ≈ 0.33; top-p 0.6 keeps tokens 1 and 2 only.
  assert.ok(draw(5, 0.6).every((t) => t === 1 || t === 2));
  assert.ok(new Set(draw(6, 1)).size >= 3);
  assert.throws(() => sampleToken(logits, { temperature: -1 }, new SeededRandom(1)), /temperature -1/);
  assert.throws(() => sampleToken(logits, { temperature: 1, topP: 0 }, new SeededRandom(1)), /top-p 0/);
});
