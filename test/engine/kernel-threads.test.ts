/**
 * The engine on the fast kernels: one thread and several give the same logits bit for bit (batch, generation
 * step, float32 and float64 accumulation), and the WebAssembly kernels stay close to the JavaScript reference.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { openDemoModel } from "../../src/demo/demo-source.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { ReferenceKernels } from "../../src/kernels/index.js";
import type { Kernels } from "../../src/kernels/index.js";
import { createNodeKernels } from "../../src/node/kernels.js";
import { hasSharedData } from "../helpers/paths.js";
import { logitsTokens, openStories, readF32 } from "./reference-data.js";

const open: Kernels[] = [];
after(() => Promise.all(open.map((k) => k.close())));
const kernels = async (threads: number) => {
  const k = await createNodeKernels({ threads, kind: "wasm" });
  open.push(k);
  return k;
};

test("the demo model (BF16, hidden 256: every matmul split over threads) gives the same logits on 1 and 3 threads", async () => {
  const model = await openDemoModel();
  const tokens = Array.from({ length: 48 }, (_, i) => (i * 37 + 5) % 500);
  const runs: Float32Array[] = [];
  for (const threads of [1, 3]) {
    const engine = await LlamaEngine.create(model, { kernels: await kernels(threads) });
    const batch = await engine.forwardBatch([tokens, tokens.slice(7, 40)]);
    const cache = engine.newCache();
    await engine.forward(tokens.slice(0, 20), { caches: [cache], logits: "none" });
    const step = await engine.forward([tokens[20]!], { caches: [cache] });
    runs.push(Float32Array.of(...batch.logits, ...step.logits));
  }
  assert.deepEqual(runs[1], runs[0]);
  await model.close();
});

test("stories260K f32 and Q4_0 (float64 accumulation) give the same logits on 1 and 3 threads, close to the reference kernels", { skip: !hasSharedData && "shared reference data not found" }, async () => {
  for (const variant of ["f32", "Q4_0"]) {
    const model = await openStories(variant);
    const tokens = logitsTokens();
    const [one, three, reference] = await Promise.all(
      [kernels(1), kernels(3), Promise.resolve(new ReferenceKernels())].map(async (k) => (await (await LlamaEngine.create(model, { kernels: await k })).forward(tokens)).logits),
    );
    assert.deepEqual(three, one, variant);
    let diff = 0;
    for (let i = 0; i < one.length; i++) diff = Math.max(diff, Math.abs(one[i]! - reference![i]!));
    assert.ok(diff <= 1e-4, `${variant}: max abs diff to the reference kernels ${diff}`);
    await model.close();
  }
});

test("weights and buffers in kernel memory survive garbage collection (memory is reclaimed only from dropped owners)", { skip: !hasSharedData && "shared reference data not found" }, async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const model = await openStories("f32");
  const want = readF32("logits", "ts-head20k.f32-kvf32-nofa.logits.f32");
  for (const cacheDequantized of [true, false]) {
    const engine = await LlamaEngine.create(model, { cacheDequantized, kernels: await kernels(1) });
    for (let round = 0; round < 2; round++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20)); // finalizers run
      const logits = (await engine.forward(logitsTokens())).logits;
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(logits[i]! - want[i]!));
      assert.ok(diff <= 1e-4, `max abs diff to llama.cpp ${diff} after a collection`);
    }
  }
  await model.close();
});
