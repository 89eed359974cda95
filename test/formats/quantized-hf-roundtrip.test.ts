/**
 * Every layout x bits x group size x symmetry x act-order it can store: random linear -> write -> openModel ->
 * readQuantizedLinear gives back identical codes, scales, zero points and g_idx, and so identical weights.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { nodeFileSystem } from "../../src/node/fs.js";
import { openModel } from "../../src/model/open-model.js";
import { MemoryFileSystem, SeededRandom } from "../../src/core/index.js";
import { dequantizeLinear, quantizedLayoutOf, readQuantizedLinear, symmetricZero, writeQuantizedHfModel } from "../../src/formats/quantized-hf/index.js";
import type { QuantizedLayoutName, QuantizedLinear } from "../../src/formats/quantized-hf/index.js";
import { DIR, openWritten, plainTensor, randomLinear, readJson, source, tinyConfig, writeModel } from "./quantized-hf-helpers.js";
import type { LinearParams, WriteOptions } from "./quantized-hf-helpers.js";

function assertSameLinear(got: QuantizedLinear, want: QuantizedLinear): void {
  assert.equal(got.name, want.name);
  assert.deepEqual([got.outFeatures, got.inFeatures, got.bits, got.groupSize], [want.outFeatures, want.inFeatures, want.bits, want.groupSize]);
  assert.deepEqual(got.codes, want.codes, "codes");
  assert.deepEqual(Array.from(got.scales), Array.from(want.scales), "scales");
  assert.deepEqual(got.gIdx && Array.from(got.gIdx), want.gIdx && Array.from(want.gIdx), "g_idx");
  if (got.symmetric === want.symmetric) {
    assert.deepEqual(got.zeros && Array.from(got.zeros), want.zeros && Array.from(want.zeros), "zeros");
  } else {
    // AWQ has no symmetric mode: a symmetric linear comes back with its implied zero points.
    assert.equal(want.symmetric, true);
    assert.ok(got.zeros!.every((z) => z === symmetricZero(want.bits)));
  }
  assert.deepEqual(dequantizeLinear(got), dequantizeLinear(want), "dequantized weights");
}

interface Case {
  layout: QuantizedLayoutName;
  params: Omit<LinearParams, "name">;
  options?: WriteOptions;
}

async function roundTrip({ layout, params, options }: Case): Promise<void> {
  const rng = new SeededRandom(params.bits * 1000 + params.groupSize + (params.symmetric ? 7 : 0) + (params.actOrder ? 13 : 0));
  // Two linears, so the writer streams more than one; names from different layers avoid vLLM's fused-set rule.
  const linears = [0, 1].map((l) => randomLinear(rng, { ...params, name: `model.layers.${l}.mlp.down_proj` }));
  const fs = await writeModel(linears, { layout, ...options });
  const model = await openWritten(fs);
  try {
    const detected = quantizedLayoutOf(model);
    assert.equal(detected.name, layout);
    assert.deepEqual(detected.modules(), linears.map((q) => q.name));
    for (const q of linears) assertSameLinear(await readQuantizedLinear(model, q.name), q);
  } finally {
    await model.close();
  }
}

const label = (c: Case) =>
  `${c.layout}${c.options?.gptq?.checkpointFormat === "gptq_v2" ? " (gptq_v2)" : ""} ${c.params.bits}-bit group ${c.params.groupSize} ${c.params.symmetric ? "sym" : "asym"}${c.params.actOrder ? " act-order" : ""}`;

const cases: Case[] = [];
for (const groupSize of [32, 128, -1]) {
  for (const symmetric of [true, false]) {
    for (const actOrder of groupSize === -1 ? [false] : [false, true]) {
      for (const bits of [2, 3, 4, 8]) {
        // out and in multiples of 32: 3-bit GPTQ packs 32 codes into 3 words along both dimensions.
        cases.push({ layout: "gptq", params: { out: 64, in: 256, bits, groupSize, symmetric, actOrder, minZero: 1 } });
      }
      cases.push({ layout: "gptq", params: { out: 64, in: 256, bits: 4, groupSize, symmetric, actOrder }, options: { gptq: { checkpointFormat: "gptq_v2" } } });
      for (const bits of [4, 8]) cases.push({ layout: "compressed-tensors", params: { out: 48, in: 256, bits, groupSize, symmetric, actOrder } });
      if (!actOrder) cases.push({ layout: "awq", params: { out: 48, in: 256, bits: 4, groupSize, symmetric } });
    }
  }
}

for (const c of cases) test(`round trip: ${label(c)}`, () => roundTrip(c));

for (const scaleType of ["F16", "BF16", "F32"] as const) {
  test(`round trip: compressed-tensors weight_scale as ${scaleType}`, () =>
    roundTrip({ layout: "compressed-tensors", params: { out: 16, in: 64, bits: 4, groupSize: 32, symmetric: false }, options: { compressedTensors: { scaleType } } }));
}

test("compressed-tensors with several schemes writes one config group per scheme and reads each back", async () => {
  const rng = new SeededRandom(5);
  const linears = [
    randomLinear(rng, { name: "model.layers.0.self_attn.o_proj", out: 64, in: 64, bits: 4, groupSize: 32, symmetric: true }),
    randomLinear(rng, { name: "model.layers.0.mlp.down_proj", out: 64, in: 128, bits: 8, groupSize: -1, symmetric: false }),
    randomLinear(rng, { name: "model.layers.1.mlp.down_proj", out: 64, in: 128, bits: 4, groupSize: 32, symmetric: true, actOrder: true }),
  ];
  const fs = await writeModel(linears, { layout: "compressed-tensors" });
  const groups = (readJson(fs, "config.json").quantization_config as { config_groups: Record<string, { targets: string[] }> }).config_groups;
  assert.deepEqual(
    Object.values(groups).map((g) => g.targets),
    [["model.layers.0.self_attn.o_proj", "model.layers.1.mlp.down_proj"], ["model.layers.0.mlp.down_proj"]],
  );
  const model = await openWritten(fs);
  for (const q of linears) assertSameLinear(await readQuantizedLinear(model, q.name), q);
  // o_proj shares the act-order scheme, so it stores a g_idx too: i // group_size, read back as none.
  assert.ok(model.tensors.some((t) => t.name === "model.layers.0.self_attn.o_proj.weight_g_idx"));
  await model.close();
});

test("sharded output: linears split across shards read back identical", async () => {
  const rng = new SeededRandom(11);
  const linears = [0, 1, 2].map((l) => randomLinear(rng, { name: `model.layers.${l}.mlp.down_proj`, out: 64, in: 128, bits: 4, groupSize: 32, symmetric: false, minZero: 1 }));
  const fs = await writeModel(linears, { layout: "gptq", maxShardSize: 3000 });
  assert.ok(fs.get(`${DIR}/model.safetensors.index.json`), "an index for several shards");
  const model = await openWritten(fs);
  for (const q of linears) assertSameLinear(await readQuantizedLinear(model, q.name), q);
  await model.close();
});

test("linears are loaded one at a time, in order, only when the writer reaches them", async () => {
  const rng = new SeededRandom(3);
  const linears = [0, 1, 2].map((l) => randomLinear(rng, { name: `model.layers.${l}.mlp.down_proj`, out: 32, in: 64, bits: 4, groupSize: -1, symmetric: true }));
  const events: string[] = [];
  const fs = new MemoryFileSystem();
  await writeQuantizedHfModel(fs, DIR, {
    layout: "awq",
    config: tinyConfig(),
    tensors: [{ ...plainTensor("model.norm.weight", "F32", [64]), read: async () => (events.push("plain"), new Uint8Array(256)) }],
    linears: linears.map((q, i) => source(q, () => events.push(`load ${i}`))),
    files: { "tokenizer_config.json": "{}" },
  });
  assert.deepEqual(events, ["plain", "load 0", "load 1", "load 2"]);
  assert.equal(readJson(fs, "tokenizer_config.json").constructor, Object);
});

test("on disk: a sharded GPTQ model written with the Node file system reads back identical", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-qhf-"));
  try {
    const rng = new SeededRandom(21);
    const linears = [0, 1].map((l) => randomLinear(rng, { name: `model.layers.${l}.mlp.down_proj`, out: 64, in: 256, bits: 3, groupSize: 128, symmetric: false, actOrder: true, minZero: 1 }));
    await writeQuantizedHfModel(nodeFileSystem, dir, {
      layout: "gptq",
      config: tinyConfig(),
      tensors: [plainTensor("model.embed_tokens.weight", "F16", [16, 64])],
      linears: linears.map((q) => source(q)),
      files: { "generation_config.json": "{}" },
      maxShardSize: 4096,
    });
    // Shards of at most 4096 bytes: the embedding (2048), each 6144-byte qweight alone, each linear's qzeros,
    // scales and g_idx (48 + 256 + 1024) together.
    assert.deepEqual((await readdir(dir)).sort(), [
      "config.json",
      "generation_config.json",
      ...[1, 2, 3, 4, 5].map((i) => `model-0000${i}-of-00005.safetensors`),
      "model.safetensors.index.json",
      "quantize_config.json",
    ]);
    const model = await openModel(nodeFileSystem, dir);
    try {
      for (const q of linears) assertSameLinear(await readQuantizedLinear(model, q.name), q);
    } finally {
      await model.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
