/** Bad input to the quantized layouts: a BitsmithError naming what is wrong, and nothing written. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError, MemoryFileSystem, SeededRandom } from "../../src/core/index.js";
import type { JsonObject } from "../../src/core/index.js";
import { readQuantizedLinear, roundToScaleType, writeQuantizedHfModel } from "../../src/formats/quantized-hf/index.js";
import type { QuantizedLayoutName, QuantizedLinear } from "../../src/formats/quantized-hf/index.js";
import { DIR, openWritten, plainTensor, randomLinear, readJson, source, tinyConfig, writeModel } from "./quantized-hf-helpers.js";
import type { LinearParams, WriteOptions } from "./quantized-hf-helpers.js";

const NAME = "model.layers.0.mlp.down_proj";

function rejects(pattern: RegExp) {
  return (e: unknown) => e instanceof BitsmithError && pattern.test(e.message);
}

async function writeFails(layout: QuantizedLayoutName, linears: QuantizedLinear[], pattern: RegExp, options: WriteOptions = {}): Promise<void> {
  const fs = new MemoryFileSystem();
  await assert.rejects(
    writeQuantizedHfModel(fs, DIR, { layout, config: tinyConfig(), tensors: [], linears: linears.map((q) => source(q)), ...options }),
    rejects(pattern),
  );
  assert.deepEqual(await fs.list(DIR), [], "nothing left behind");
}

const lin = (p: Partial<LinearParams>) => randomLinear(new SeededRandom(9), { name: NAME, out: 64, in: 256, bits: 4, groupSize: 128, symmetric: true, ...p });

test("group size not dividing in_features", async () => {
  const q = { ...lin({}), groupSize: 96 };
  for (const layout of ["gptq", "awq", "compressed-tensors"] as const) await writeFails(layout, [q], /group size 96 does not divide in_features 256/);
});

test("bits a layout cannot store", async () => {
  await writeFails("gptq", [{ ...lin({ bits: 4 }), bits: 5 }], /GPTQ stores 2, 3, 4 or 8 bits, not 5/);
  await writeFails("awq", [lin({ bits: 8 })], /AWQ's GEMM layout stores 4 bits, not 8/);
  await writeFails("awq", [lin({ bits: 2 })], /stores 4 bits, not 2/);
  for (const bits of [2, 3]) await writeFails("compressed-tensors", [lin({ bits })], new RegExp(`pack-quantized stores 4 or 8 bits, not ${bits}`));
});

test("dimensions that do not pack into whole words", async () => {
  await writeFails("gptq", [lin({ bits: 3, out: 48 })], /out_features 48 x 3 bits is not a whole number of int32 words/);
  await writeFails("awq", [lin({ out: 60 })], /out_features 60 is not a multiple of 8/);
  await writeFails("compressed-tensors", [lin({ symmetric: false, out: 60 })], /out_features 60 is not a multiple of 8, as packed zero points need/);
});

test("GPTQ format gptq refuses zero point 0 and names gptq_v2, which stores it", async () => {
  const q = lin({ symmetric: false, minZero: 0 });
  const zeros = q.zeros as Uint8Array;
  zeros[5] = 0;
  await writeFails("gptq", [q], /zero point 0 .*cannot be stored in checkpoint format "gptq".*gptq_v2/);
  const fs = await writeModel([q], { layout: "gptq", gptq: { checkpointFormat: "gptq_v2" } });
  const back = await readQuantizedLinear(await openWritten(fs), NAME);
  assert.equal(back.zeros![5], 0);
});

test("values out of range, wrong lengths, scales the storage type would round", async () => {
  const q = lin({});
  await writeFails("gptq", [{ ...q, codes: q.codes.map((c, i) => (i === 3 ? 16 : c)) }], /code 16 at index 3 does not fit in 4 bits/);
  await writeFails("gptq", [{ ...q, scales: q.scales.subarray(1) }], /scales: holds 127 scales/);
  await writeFails("gptq", [{ ...q, scales: q.scales.map((s, i) => (i === 2 ? 0.1 : s)) }], /scale 0\.1.* is not exactly representable as F16/);
  await writeFails("gptq", [{ ...q, symmetric: false }], /an asymmetric linear needs zero points/);
  const asym = lin({ symmetric: false });
  await writeFails("awq", [{ ...asym, zeros: new Int32Array(asym.zeros!).map((z, i) => (i === 0 ? 16 : z)) }], /zero point 16 at index 0 is outside the 4-bit code range/);
  assert.equal(roundToScaleType(0.1, "F16"), 0.0999755859375, "roundToScaleType gives the stored value");
});

test("g_idx that is not a permutation cut into equal groups", async () => {
  const q = lin({ actOrder: true });
  const gIdx = new Int32Array(q.gIdx!);
  gIdx[gIdx.indexOf(0)] = 1;
  await writeFails("gptq", [{ ...q, gIdx }], /group 0 has 127 columns; every group must have 128/);
  await writeFails("gptq", [{ ...q, gIdx: q.gIdx!.map((g, i) => (i === 7 ? 2 : g)) }], /column 7 names group 2; there are 2 groups/);
});

test("a g_idx the source did not declare, and AWQ act-order", async () => {
  const q = lin({ actOrder: true });
  const fs = new MemoryFileSystem();
  await assert.rejects(
    writeQuantizedHfModel(fs, DIR, { layout: "gptq", config: tinyConfig(), tensors: [], linears: [{ ...source(q), actOrder: false }] }),
    rejects(/act-order g_idx but the source did not declare actOrder/),
  );
  await writeFails("awq", [q], /AWQ has no g_idx/);
});

test("load() returning another linear than declared", async () => {
  const q = lin({});
  const fs = new MemoryFileSystem();
  const declared = { ...source(q), inFeatures: 128 };
  await assert.rejects(
    writeQuantizedHfModel(fs, DIR, { layout: "compressed-tensors", config: tinyConfig(), tensors: [], linears: [declared] }),
    rejects(/load\(\) returned inFeatures 256; the source declared 128/),
  );
  assert.deepEqual(await fs.list(DIR), []);
});

test("a failing load() leaves nothing behind, even with shards already written", async () => {
  const fs = new MemoryFileSystem();
  const good = lin({});
  const bad = { ...source(lin({ name: "model.layers.1.mlp.down_proj" })), load: async (): Promise<QuantizedLinear> => { throw new Error("calibration failed"); } };
  await assert.rejects(
    writeQuantizedHfModel(fs, DIR, { layout: "gptq", config: tinyConfig(), tensors: [], linears: [source(good), bad], maxShardSize: 1000 }),
    /calibration failed/,
  );
  assert.deepEqual(await fs.list(DIR), []);
});

test("one scheme per model in GPTQ and AWQ; vLLM's fused projections need one scheme", async () => {
  const a = lin({});
  const b = lin({ name: "model.layers.1.mlp.down_proj", bits: 8 });
  await writeFails("gptq", [a, b], /gptq stores one bits\/group_size\/sym for the whole model: this linear has 8\/128\/true, model.layers.0.mlp.down_proj has 4\/128\/true/);
  const q = lin({ name: "model.layers.0.self_attn.q_proj" });
  const k = lin({ name: "model.layers.0.self_attn.k_proj", bits: 8 });
  await writeFails("compressed-tensors", [q, k], /model.layers.0.self_attn.k_proj has another scheme: vLLM fuses q_proj\/k_proj\/v_proj/);
  await writeFails("compressed-tensors", [q], /model.layers.0.self_attn.v_proj stays in float/, { tensors: [plainTensor("model.layers.0.self_attn.v_proj.weight", "F16", [64, 256])] });
  await writeFails("gptq", [a], /its float .weight is among the plain tensors too/, { tensors: [plainTensor(`${NAME}.weight`, "F16", [64, 256])] });
  await writeFails("gptq", [a], /cannot leave model.layers.0.mlp.up_proj in float/, { unquantizedModules: ["lm_head", "model.layers.0.mlp.up_proj"] });
  await writeFails("gptq", [a, a], /linear listed twice/);
  await writeFails("compressed-tensors", [a], /quantized but listed in unquantizedModules/, { unquantizedModules: [NAME] });
  await writeFails("awq", [lin({ name: "lm_head" })], /AWQ's config cannot mark lm_head quantized/, { unquantizedModules: [] });
  await writeFails("gptq", [a], /the writer makes this file itself/, { files: { "config.json": "{}" } });
});

async function withEditedConfig(layout: QuantizedLayoutName, q: QuantizedLinear, edit: (qc: JsonObject) => void, options: WriteOptions = {}) {
  const fs = await writeModel([q], { layout, ...options });
  const config = readJson(fs, "config.json");
  edit(config.quantization_config as JsonObject);
  fs.put(`${DIR}/config.json`, JSON.stringify(config));
  return openWritten(fs);
}

test("reader: configs and files it cannot read exactly", async () => {
  const fail = async (layout: QuantizedLayoutName, q: QuantizedLinear, edit: (qc: JsonObject) => void, pattern: RegExp, options: WriteOptions = {}) => {
    const model = await withEditedConfig(layout, q, edit, options);
    await assert.rejects(readQuantizedLinear(model, q.name), rejects(pattern));
  };
  const asym = lin({ symmetric: false, minZero: 1 });
  await fail("gptq", asym, (qc) => (qc.quant_method = "bitsandbytes"), /quant_method: is "bitsandbytes"; bitsmith reads gptq, awq, compressed-tensors/);
  await fail("gptq", asym, (qc) => (qc.sym = true), /config says sym but qzeros hold zero point \d+ \(not 8\)/);
  await fail("gptq", asym, (qc) => (qc.bits = 8), /qzeros: shape is \[2, 8\]; expected \[1, 16\]/);
  await fail("gptq", lin({ actOrder: true }), (qc) => (qc.desc_act = false), /g_idx is not i \/\/ group_size but desc_act is false/);
  await fail("gptq", asym, (qc) => (qc.checkpoint_format = "marlin"), /checkpoint_format: is "marlin"/);
  await fail("awq", asym, (qc) => (qc.version = "gemv"), /version: is "gemv"; bitsmith reads AWQ's GEMM layout/);
  await fail("awq", asym, (qc) => (qc.zero_point = false), /zero_point: is false/);
  await fail("compressed-tensors", asym, (qc) => (qc.format = "int-quantized"), /format: is "int-quantized"; bitsmith reads pack-quantized/);
  await fail("compressed-tensors", asym, (qc) => (qc.ignore = [NAME]), /module is in quantization_config.ignore/);
  await fail("compressed-tensors", asym, (qc) => ((qc.config_groups as { group_0: { targets: string[] } }).group_0.targets = ["Embedding"]), /no config group/);

  const model = await openWritten(await writeModel([asym], { layout: "awq" }));
  await assert.rejects(readQuantizedLinear(model, "model.layers.0.mlp.up_proj"), rejects(/model.layers.0.mlp.up_proj.qweight: tensor is missing/));
  const plain = await writeModel([asym], { layout: "awq" });
  const config = readJson(plain, "config.json");
  delete config.quantization_config;
  plain.put(`${DIR}/config.json`, JSON.stringify(config));
  await assert.rejects(readQuantizedLinear(await openWritten(plain), NAME), rejects(/no quantization_config object: the model is not quantized/));
});

test("reader: compressed-tensors targets by regex win over the Linear class target", async () => {
  const q = lin({ bits: 8, groupSize: -1, symmetric: false });
  const model = await withEditedConfig("compressed-tensors", q, (qc) => {
    const groups = qc.config_groups as Record<string, { targets: string[]; weights: { num_bits: number } }>;
    // A Linear group claiming 4 bits, and a regex group with the true 8 bits: the regex group must be chosen.
    groups.group_1 = { ...groups.group_0!, targets: ["re:.*down_proj$"] };
    groups.group_0!.weights = { ...groups.group_0!.weights, num_bits: 4 };
  });
  const back = await readQuantizedLinear(model, NAME);
  assert.equal(back.bits, 8);
  assert.deepEqual(back.codes, q.codes);
});
