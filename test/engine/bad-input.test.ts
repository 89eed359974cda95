/** The engine refuses malformed models and inputs with errors naming the file and the tensor or field. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError } from "../../src/core/index.js";
import type { ModelSource, TensorRef } from "../../src/core/index.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { hasSharedData } from "../helpers/paths.js";
import { openStories } from "./reference-data.js";

const skip = !hasSharedData && "shared reference data not found";

const opened: ModelSource[] = [];

/** The stories260K model with some tensors or fields changed. */
async function altered(change: { tensors?: (t: TensorRef[]) => TensorRef[]; architecture?: string; hparams?: object }): Promise<ModelSource> {
  const m = await openStories("f32");
  opened.push(m);
  const tensors = change.tensors ? change.tensors([...m.tensors]) : m.tensors;
  const info = { ...m.info, architecture: change.architecture ?? m.info.architecture, hparams: { ...m.info.hparams!, ...change.hparams } };
  return { ...m, tensors, info };
}

const rejects = (p: Promise<unknown>, pattern: RegExp) => assert.rejects(p, (e: unknown) => e instanceof BitsmithError && pattern.test(e.message));

test("missing tensor, wrong shape, unsupported architecture or rope scaling", { skip }, async () => {
  await rejects(LlamaEngine.create(await altered({ tensors: (t) => t.filter((x) => x.name !== "blk.3.ffn_up.weight") })), /stories260K-f32\.gguf: tensor "blk\.3\.ffn_up\.weight": missing/);
  await rejects(
    LlamaEngine.create(await altered({ tensors: (t) => t.map((x) => (x.name === "blk.1.attn_k.weight" ? { ...x, shape: [64, 32] } : x)) })),
    /tensor "blk\.1\.attn_k\.weight": has shape \[64, 32\], expected \[32, 64\]/,
  );
  await rejects(LlamaEngine.create(await altered({ architecture: "gpt2" })), /architecture "gpt2" is not supported/);
  await rejects(LlamaEngine.create(await altered({ hparams: { ropeScaling: { type: "yarn", factor: 4 } } })), /rope scaling type "yarn" is not supported/);
  await rejects(LlamaEngine.create(await altered({ hparams: { numKvHeads: 3 } })), /8 heads are not a multiple of 3 KV heads/);
  await rejects(LlamaEngine.create({ ...(await altered({})), info: { architecture: "llama" } }), /no Llama-family hyperparameters/);
  for (const m of opened) await m.close();
});

test("token ids outside the vocabulary and inconsistent caches are refused", { skip }, async () => {
  const model = await openStories("f32");
  const engine = await LlamaEngine.create(model);
  await rejects(engine.forward([1, 512]), /token id 512 at position 1 is outside the vocabulary \(0\.\.511\)/);
  await rejects(engine.forward([1, -1]), /token id -1/);
  await rejects(engine.forward([1, 2.5]), /token id 2\.5/);
  await rejects(engine.forwardBatch([[1], [1]], { caches: [engine.newCache()] }), /1 caches given for 2 sequences/);
  await model.close();
});
