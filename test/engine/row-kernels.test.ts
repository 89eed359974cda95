/**
 * The engine's row operations (RMSNorm, RoPE, residual sums, llama.cpp's activation rounding) run on the
 * WebAssembly row kernels with every operand in the kernels' memory: with the kernels' JavaScript fallback
 * made to throw, forward passes still run, and their logits are bit-identical to those of the same kernels
 * with the row operations on the JavaScript reference (the kernels claim bit-identity). Covered: stories260K
 * f32 and Q4_0 (Q8_0 rounding), an fp16 KV cache (fp16 rounding of queries and probabilities), the demo
 * model's BF16 weights (bf16 rounding), batches and a generation step.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { openDemoModel } from "../../src/demo/demo-source.js";
import { LlamaEngine } from "../../src/engine/index.js";
import type { EngineOptions } from "../../src/engine/index.js";
import { ReferenceKernels } from "../../src/kernels/index.js";
import type { Kernels } from "../../src/kernels/index.js";
import type { ModelSource } from "../../src/core/index.js";
import { createNodeKernels } from "../../src/node/kernels.js";
import { hasSharedData } from "../helpers/paths.js";
import { logitsTokens, openStories } from "./reference-data.js";

const ROW_OPERATIONS = new Set<string | symbol>(["rmsNorm", "rope", "addRows", "roundActivations"]);
const open: Kernels[] = [];
after(() => Promise.all(open.map((k) => k.close())));

/** WebAssembly kernels whose JavaScript fallback throws. */
async function wasmOnly(): Promise<Kernels> {
  const k = await createNodeKernels({ threads: 1, kind: "wasm" });
  open.push(k);
  const fallback = () => assert.fail("a row operation of the engine fell back to JavaScript");
  (k as unknown as { reference: Record<string, () => void> }).reference = { rmsNorm: fallback, rope: fallback, addRows: fallback, roundActivations: fallback };
  return k;
}

/** WebAssembly kernels with the row operations on the JavaScript reference (matrix products unchanged). */
async function referenceRowOperations(): Promise<Kernels> {
  const k = await createNodeKernels({ threads: 1, kind: "wasm" });
  open.push(k);
  const reference = new ReferenceKernels();
  return new Proxy(k, {
    get(target, name) {
      const source = ROW_OPERATIONS.has(name) ? reference : target;
      const value = Reflect.get(source, name) as unknown;
      return typeof value === "function" ? value.bind(source) : value;
    },
  });
}

/** Logits of a two-sequence batch and of a generation step after a cached prefix. */
async function logitsOf(model: ModelSource, kernels: Kernels, tokens: number[], options: EngineOptions = {}): Promise<Float32Array> {
  const engine = await LlamaEngine.create(model, { ...options, kernels });
  const batch = await engine.forwardBatch([tokens, tokens.slice(5, 40)]);
  const cache = engine.newCache();
  await engine.forward(tokens.slice(0, 30), { caches: [cache], logits: "none" });
  const step = await engine.forward([tokens[30]!], { caches: [cache] });
  return Float32Array.of(...batch.logits, ...step.logits);
}

async function assertSameLogits(model: ModelSource, tokens: number[], what: string, options: EngineOptions = {}): Promise<void> {
  const fast = await logitsOf(model, await wasmOnly(), tokens, options);
  const reference = await logitsOf(model, await referenceRowOperations(), tokens, options);
  assert.deepEqual(new Uint32Array(fast.buffer), new Uint32Array(reference.buffer), what);
}

test("stories260K f32, Q4_0 and an fp16 KV cache: the row kernels run in WebAssembly and give the reference's logits bit for bit", { skip: !hasSharedData && "shared reference data not found" }, async () => {
  const tokens = logitsTokens().slice(0, 64);
  for (const variant of ["f32", "Q4_0"]) {
    const model = await openStories(variant);
    await assertSameLogits(model, tokens, variant);
    if (variant === "f32") await assertSameLogits(model, tokens, "f16 KV cache", { kvCacheType: "f16" });
    await model.close();
  }
});

test("the demo model (BF16 weights: bf16 activation rounding) gives the reference's logits bit for bit on the row kernels", async () => {
  const model = await openDemoModel();
  await assertSameLogits(model, Array.from({ length: 48 }, (_, i) => (i * 37 + 5) % 500), "demo");
  await model.close();
});
