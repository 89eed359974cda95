/**
 * What a library user imports: the engine, perplexity and kernels from "bitsmith" (the browser-safe entry) work
 * together on the demo model, as the README's Library section shows.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as bitsmith from "../../src/index.js";

test("the main entry exports the engine, evaluation and kernels, and they run the demo model", async () => {
  for (const name of ["LlamaEngine", "evaluatePerplexity", "createKernels", "defaultKernels", "ReferenceKernels", "createModelTokenizer", "openDemoModel"]) {
    assert.equal(typeof (bitsmith as Record<string, unknown>)[name], "function", name);
  }
  const model = await bitsmith.openDemoModel();
  const kernels = await bitsmith.createKernels();
  const engine = await bitsmith.LlamaEngine.create(model, { kernels });
  const text = "Once upon a time, a little fox found a red ball in the garden and ran to show it to her friends. ".repeat(4);
  const tokens = bitsmith.createModelTokenizer(model.info).encode(text, { addSpecial: true }).slice(0, 64);
  assert.equal(tokens.length, 64);
  const result = await bitsmith.evaluatePerplexity(engine, tokens, { ctx: 32, protocol: "gptq" });
  // A random-weight model: all that is promised is a finite perplexity above 1 over both chunks.
  assert.ok(Number.isFinite(result.ppl) && result.ppl > 1, `ppl ${result.ppl}`);
  assert.equal(result.chunks, 2);
  await kernels.close();
  await model.close();
});
