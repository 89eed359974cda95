/**
 * Planning on tiny in-memory models whose values say where they came from: layer stacking and renumbering,
 * gradients across layers and filters as mergekit evaluates them, embeddings moved into the output vocabulary
 * by tokenizer_source, and the errors for inputs that cannot be merged.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError, MemoryFileSystem } from "../../src/core/index.js";
import type { GgufValue } from "../../src/formats/gguf/index.js";
import { mergeModels, parseMergeConfig } from "../../src/merge/index.js";
import { HIDDEN, embeddingValue, layerValue, readTensors, writeTinyModel } from "./tiny-models.js";
import type { TinyModel } from "./tiny-models.js";

async function setup(models: TinyModel[]): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem();
  for (const m of models) await writeTinyModel(fs, m);
  return fs;
}

async function merge(fs: MemoryFileSystem, yaml: string, out = "out.gguf") {
  await mergeModels(fs, parseMergeConfig(yaml, "test.yaml"), out, { configName: "test.yaml" });
  return readTensors(fs, out);
}

const meta = (m: ReadonlyMap<string, unknown>, key: string) => (m.get(key) as GgufValue | undefined)?.value;
const filled = (n: number, v: number) => Array.from({ length: n }, () => Math.fround(v));

test("passthrough slices stack layers renumbered from 0, embeddings from the first slice, output from the last", async () => {
  const fs = await setup([
    { path: "a.gguf", tag: 100 },
    { path: "b.gguf", tag: 200, layers: 4 },
  ]);
  const { values, metadata } = await merge(
    fs,
    `merge_method: passthrough
slices:
  - sources: [{model: a.gguf, layer_range: [0, 2]}]
  - sources: [{model: b.gguf, layer_range: [1, 4]}]
`,
  );
  assert.equal(meta(metadata, "llama.block_count"), 5);
  const from = [layerValue(100, 0), layerValue(100, 1), layerValue(200, 1), layerValue(200, 2), layerValue(200, 3)];
  from.forEach((v, l) => {
    assert.deepEqual(values.get(`blk.${l}.attn_norm.weight`), filled(HIDDEN, v), `layer ${l}`);
    assert.deepEqual(values.get(`blk.${l}.ffn_up.weight`), filled(2 * HIDDEN, v), `layer ${l}`);
  });
  assert.equal(values.get("token_embd.weight")![0], embeddingValue(100, 0, 0));
  assert.deepEqual(values.get("output_norm.weight"), filled(HIDDEN, 200.5));
  assert.equal(values.size, 2 + 2 * 5 + 1);
});

test("gradients follow the layer's position in its slice (embeddings t=0, final tensors t=1) and filters pick per tensor", async () => {
  // base all zeros-ish (tag 0), model tag 8: every delta is 8 + 0 (layer parts cancel).
  const fs = await setup([
    { path: "base.gguf", tag: 0 },
    { path: "m.gguf", tag: 8 },
  ]);
  const { values } = await merge(
    fs,
    `merge_method: task_arithmetic
base_model: base.gguf
models:
  - model: m.gguf
    parameters:
      weight:
        - filter: ffn
          value: 0.25
        - value: [0, 1]
`,
  );
  // 3 layers: t = 0, 0.5, 1 -> weights 0, 0.5, 1 for attn_norm (the gradient), 0.25 for ffn_up (the filter).
  [0, 0.5, 1].forEach((w, l) => {
    assert.deepEqual(values.get(`blk.${l}.attn_norm.weight`), filled(HIDDEN, layerValue(0, l) + 8 * w), `attn_norm ${l}`);
    assert.deepEqual(values.get(`blk.${l}.ffn_up.weight`), filled(2 * HIDDEN, layerValue(0, l) + 8 * 0.25), `ffn_up ${l}`);
  });
  assert.equal(values.get("token_embd.weight")![0], embeddingValue(0, 0, 0)); // t = 0: weight 0
  assert.deepEqual(values.get("output_norm.weight"), filled(HIDDEN, 0.5 + 8)); // t = 1: weight 1
});

test("filters written with Hugging Face names (self_attn, mlp) apply to GGUF-named tensors", async () => {
  const fs = await setup([
    { path: "a.gguf", tag: 10 },
    { path: "b.gguf", tag: 20 },
  ]);
  const { values } = await merge(
    fs,
    `merge_method: linear
models:
  - model: a.gguf
    parameters: {weight: [{filter: mlp, value: 1}, {value: 0}]}
  - model: b.gguf
    parameters: {weight: [{filter: mlp, value: 0}, {value: 1}]}
`,
  );
  // ffn_up is mlp.up_proj in Hugging Face names: weight 1 on a; everything else takes b.
  assert.deepEqual(values.get("blk.1.ffn_up.weight"), filled(2 * HIDDEN, layerValue(10, 1)));
  assert.deepEqual(values.get("blk.1.attn_norm.weight"), filled(HIDDEN, layerValue(20, 1)));
});

test("tokenizer_source moves embedding rows into the output vocabulary as mergekit does", async () => {
  const fs = await setup([
    { path: "a.gguf", tag: 100, tokens: ["a", "b", "c"] },
    { path: "b.gguf", tag: 200, tokens: ["c", "a", "d", "e"] },
  ]);
  const models = `merge_method: linear
base_model: a.gguf
models:
  - model: a.gguf
    parameters: {weight: 1}
  - model: b.gguf
    parameters: {weight: 1}
`;
  const row = (values: number[], r: number) => values.slice(r * HIDDEN, (r + 1) * HIDDEN);
  const embeddingRow = (tag: number, r: number) => Array.from({ length: HIDDEN }, (_, c) => Math.fround(embeddingValue(tag, r, c)));
  const average = (tagA: number, rowA: number, tagB: number, rowB: number) =>
    embeddingRow(tagA, rowA).map((v, c) => Math.fround((v + embeddingRow(tagB, rowB)[c]!) / 2));

  // Different vocabulary sizes without tokenizer_source: refused, naming the tensor and shapes.
  await assert.rejects(
    mergeModels(fs, parseMergeConfig(models, "t.yaml"), "x.gguf"),
    (e: unknown) => e instanceof BitsmithError && /token_embd\.weight.*a\.gguf \[3, 4\], b\.gguf \[4, 4\].*tokenizer_source/.test(e.message),
  );
  assert.equal(fs.get("x.gguf"), undefined);

  // base: vocabulary [a, b, c]. a: a0 & b1; b: only in a, so b's stand-in is a's row 1; c: a2 & b0.
  const base = await merge(fs, models + "tokenizer_source: base\n", "base.out.gguf");
  for (const name of ["token_embd.weight", "output.weight"]) {
    const e = base.values.get(name)!;
    assert.equal(e.length, 3 * HIDDEN);
    assert.deepEqual(row(e, 0), average(100, 0, 200, 1), `${name} a`);
    assert.deepEqual(row(e, 1), embeddingRow(100, 1), `${name} b`);
    assert.deepEqual(row(e, 2), average(100, 2, 200, 0), `${name} c`);
  }
  assert.deepEqual(meta(base.metadata, "tokenizer.ggml.tokens"), ["a", "b", "c"]);

  // b.gguf: vocabulary [c, a, d, e]; d and e only in b: a's stand-ins are b's rows 2 and 3.
  const named = await merge(fs, models + "tokenizer_source: b.gguf\n", "named.out.gguf");
  const e = named.values.get("token_embd.weight")!;
  assert.equal(e.length, 4 * HIDDEN);
  assert.deepEqual(row(e, 0), average(100, 2, 200, 0));
  assert.deepEqual(row(e, 1), average(100, 0, 200, 1));
  assert.deepEqual(row(e, 2), embeddingRow(200, 2));
  assert.deepEqual(row(e, 3), embeddingRow(200, 3));
  assert.deepEqual(meta(named.metadata, "tokenizer.ggml.tokens"), ["c", "a", "d", "e"]);
});

async function assertPlanError(models: TinyModel[], yaml: string, ...mentions: string[]): Promise<void> {
  const fs = await setup(models);
  await assert.rejects(mergeModels(fs, parseMergeConfig(yaml, "t.yaml"), "out.gguf", { configName: "t.yaml" }), (e: unknown) => {
    assert.ok(e instanceof BitsmithError, String(e));
    for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should mention ${m}`);
    return true;
  });
  assert.equal(fs.get("out.gguf"), undefined, "no output");
}

test("inputs that cannot be merged are refused before anything is written", async () => {
  const a = { path: "a.gguf", tag: 1 };
  await assertPlanError([a, { path: "b.gguf", tag: 2 }], "merge_method: ties\nmodels:\n  - model: a.gguf\n    parameters: {weight: 1}\n  - model: b.gguf\n    parameters: {weight: 1}\n", "base_model", "ties needs base_model");
  await assertPlanError([a], "merge_method: passthrough\nslices:\n  - sources: [{model: a.gguf, layer_range: [1, 5]}]\n", "slices[0].sources[0].layer_range", "[1, 5] is beyond a.gguf, which has 3 layers");
  await assertPlanError([a, { path: "b.gguf", tag: 2, ffnRows: 3 }], "merge_method: linear\nmodels:\n  - model: a.gguf\n    parameters: {weight: 1}\n  - model: b.gguf\n    parameters: {weight: 1}\n", "blk.0.ffn_up.weight", "a.gguf [2, 4], b.gguf [3, 4]");
  await assertPlanError([a, { path: "b.gguf", tag: 2, omit: ["blk.1.ffn_up.weight"] }], "merge_method: linear\nmodels:\n  - model: a.gguf\n    parameters: {weight: 1}\n  - model: b.gguf\n    parameters: {weight: 1}\n", "blk.1.ffn_up.weight", "missing from b.gguf");
  await assertPlanError([a, { path: "b.gguf", tag: 2, architecture: "qwen2" }], "merge_method: linear\nmodels:\n  - model: a.gguf\n    parameters: {weight: 1}\n  - model: b.gguf\n    parameters: {weight: 1}\n", "b.gguf is a qwen2 model", "llama");
  await assertPlanError([a, { path: "b.gguf", tag: 2, layers: 4 }], "merge_method: linear\nmodels:\n  - model: a.gguf\n    parameters: {weight: 1}\n  - model: b.gguf\n    parameters: {weight: 1}\n", "different numbers of layers", "a.gguf: 3, b.gguf: 4");
  await assertPlanError([a, { path: "b.gguf", tag: 2 }], "merge_method: linear\nmodels:\n  - model: a.gguf\n    parameters: {weight: 1}\n  - model: b.gguf\n", "missing required parameter weight for model b.gguf");
  await assertPlanError([a, { path: "b.gguf", tag: 2 }], "merge_method: slerp\nbase_model: a.gguf\nmodels:\n  - model: a.gguf\n  - model: b.gguf\n", "missing required parameter t");
  await assertPlanError([a], "merge_method: linear\nmodels:\n  - model: missing.gguf\n    parameters: {weight: 1}\n", "missing.gguf", "no such file");
});
