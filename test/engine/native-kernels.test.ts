/**
 * The engine on the native kernel paths (bitsmith's addon, and onnxruntime-node's MLAS, for the large products):
 * the same logits bit for bit on 1 and 3 threads, close to the WebAssembly path (only the float32 summation order differs). Compared
 * with float32 activations: llama.cpp's activation rounding (BF16 for this model) turns last-bit differences
 * into whole BF16 steps, which would hide what the comparison is about.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { openDemoModel } from "../../src/demo/demo-source.js";
import { LlamaEngine } from "../../src/engine/index.js";
import type { Kernels } from "../../src/kernels/index.js";
import { createNodeKernels } from "../../src/node/kernels.js";
import type { NodeKernelKind } from "../../src/node/kernels.js";
import { NATIVE_BACKENDS } from "../helpers/native-backends.js";

const open: Kernels[] = [];
after(() => Promise.all(open.map((k) => k.close())));
const kernels = async (threads: number, kind: NodeKernelKind) => {
  const k = await createNodeKernels({ threads, kind });
  open.push(k);
  return k;
};

for (const backend of NATIVE_BACKENDS) {
test(`the demo model's 300-token batch gives the same logits on 1 and 3 ${backend.kind} threads, within 1e-4 of the WebAssembly path`, { skip: backend.skip }, async () => {
  const model = await openDemoModel();
  // 300 rows × hidden 256 × 256 outputs and more: every projection is large enough for the native path.
  const tokens = Array.from({ length: 300 }, (_, i) => (i * 37 + 5) % 500);
  const logits: Float32Array[] = [];
  for (const [threads, kind] of [[1, backend.kind], [3, backend.kind], [1, "wasm"]] as const) {
    const K = await kernels(threads, kind);
    assert.equal(K.description.includes(backend.name), kind !== "wasm", K.description);
    const engine = await LlamaEngine.create(model, { kernels: K, activations: "float32" });
    logits.push((await engine.forward(tokens)).logits);
  }
  const [one, three, wasm] = logits;
  assert.deepEqual(three, one, `${backend.kind}: 3 threads vs 1`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < one!.length; i++) {
    diff = Math.max(diff, Math.abs(one![i]! - wasm![i]!));
    scale = Math.max(scale, Math.abs(wasm![i]!));
  }
  assert.ok(diff > 0, "the native path was taken (its summation order differs)");
  assert.ok(diff <= 1e-4 * Math.max(1, scale), `native vs wasm: max abs diff ${diff} (logits up to ${scale})`);
  await model.close();
});
}
