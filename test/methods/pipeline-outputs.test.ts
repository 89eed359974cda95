/**
 * The pipeline's outputs and edges on a small synthetic Llama (Hugging Face layout, so Q/K rows go through
 * llama.cpp's permutation and back): every quantized layout is read back by bitsmith's reader of that layout
 * and dequantizes to exactly the weights the method chose; the GGUF output holds the method's ggml bytes and
 * runs; an interrupted run resumes to the same result; bad input fails clearly before any work.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { BitsmithError, MemoryFileSystem, tensorType } from "../../src/core/index.js";
import type { ModelSource, Progress, TensorRef } from "../../src/core/index.js";
import "../../src/codecs/index.js";
import { getCodec } from "../../src/codecs/index.js";
import { fromFloat32, toFloat32 } from "../../src/codecs/convert.js";
import { writeDemoModel } from "../../src/demo/demo-source.js";
import { openModel } from "../../src/model/open-model.js";
import { permuteQkRows, qkPermutationHeads } from "../../src/model/llama-names.js";
import { createModelTokenizer } from "../../src/tokenizer/index.js";
import { calibrationTokens, parseCalibrationFile, sampleCalibrationWindows } from "../../src/calibrate/calibration-data.js";
import { quantizeBlocks } from "../../src/methods/pipeline/sequential.js";
import type { QuantizationRun, SequentialQuantizeOptions } from "../../src/methods/pipeline/sequential.js";
import { checkQuantizedHfLayout, quantizedModelSource, writeQuantizedGguf, writeQuantizedHf } from "../../src/methods/pipeline/outputs.js";
import { DirectoryQuantizationStore } from "../../src/methods/pipeline/result-store.js";
import { dequantizeWeights } from "../../src/methods/weight-format.js";
import { dequantizeLinear, quantizedLayoutOf } from "../../src/formats/quantized-hf/index.js";
import type { QuantizedLayoutName } from "../../src/formats/quantized-hf/index.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { bytesOf, viewF32, viewI32 } from "../../src/numeric/byte-views.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";

const DIMS = { hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 4, contextLength: 256 };
const skip = !hasSharedData && "shared data missing";

async function tinyModel(): Promise<{ fs: MemoryFileSystem; model: ModelSource; windows: Int32Array[] }> {
  const fs = new MemoryFileSystem();
  await writeDemoModel(fs, "m", 5, DIMS);
  const model = await openModel(fs, "m");
  const text = readFileSync(path.join(REFERENCE, "text/ts-head20k.txt"), "utf8").slice(0, 6000);
  const tokens = calibrationTokens(parseCalibrationFile(text, "t.txt"), createModelTokenizer(model.info), undefined, "t.txt");
  return { fs, model, windows: sampleCalibrationWindows(tokens, { samples: 8, seqLen: 64, seed: 1 }, "t.txt") };
}

const int = (bits: number, groupSize: number, symmetric: boolean, minZero = 0) => ({ kind: "integer" as const, scheme: { bits, groupSize, symmetric, minZero } });

/** The method's weights of every block linear in Hugging Face row order, by HF module name. */
async function chosenWeights(run: QuantizationRun): Promise<Map<string, { values: Float32Array; dense: Float32Array }>> {
  const out = new Map<string, { values: Float32Array; dense: Float32Array }>();
  const h = run.source.info.hparams!;
  for (let l = 0; l < run.numLayers; l++) {
    for (const o of (await run.store.readBlock(l)).linears) {
      assert.ok(o.weights?.kind === "integer");
      const heads = qkPermutationHeads("llama", o.name, h.numHeads, h.numKvHeads);
      const hf = (v: Float32Array) => (heads === undefined ? v : viewF32(permuteQkRows(bytesOf(v), o.rows, heads, false).slice()));
      const module = o.name.replace(/^blk\.(\d+)\./, "model.layers.$1.").replace(/\.weight$/, "");
      const name = module
        .replace("attn_q", "self_attn.q_proj").replace("attn_k", "self_attn.k_proj").replace("attn_v", "self_attn.v_proj").replace("attn_output", "self_attn.o_proj")
        .replace("ffn_gate", "mlp.gate_proj").replace("ffn_up", "mlp.up_proj").replace("ffn_down", "mlp.down_proj");
      out.set(name, { values: hf(dequantizeWeights(o.weights, o.rows, o.cols)), dense: hf(dequantizeLinear(o.weights.linear)) });
    }
  }
  return out;
}

for (const [method, layout, format, extra] of [
  ["gptq", "gptq", int(4, 32, false, 1), { gptq: { actOrder: true } }],
  ["gptq", "gptq", int(3, 32, true), {}],
  ["awq", "awq", int(4, 32, false), {}],
  ["outlier", "compressed-tensors", int(4, 16, true), { outliers: { fraction: 0.02 } }],
  ["rtn", "compressed-tensors", int(8, -1, true), {}],
] as const) {
  test(`${method} → ${layout} (${format.scheme.bits}-bit, group ${format.scheme.groupSize}): read back, dequantizes to the weights the method chose`, { skip }, async () => {
    const { fs, model, windows } = await tinyModel();
    checkQuantizedHfLayout(model, format, layout as QuantizedLayoutName);
    const run = await quantizeBlocks(model, { method, format, calibration: windows, ...extra } as SequentialQuantizeOptions);
    await writeQuantizedHf(run, fs, "out", { layout: layout as QuantizedLayoutName, original: model });
    const written = await openModel(fs, "out");
    const reader = quantizedLayoutOf(written);
    assert.equal(reader.name, layout);
    const chosen = await chosenWeights(run);
    assert.deepEqual(reader.modules().filter((m) => m !== "lm_head").sort(), [...chosen.keys()].sort());
    for (const [module, { values, dense }] of chosen) {
      const q = await reader.read(module);
      assert.deepEqual(dequantizeLinear(q), dense, module);
      if (method === "awq" || method === "gptq") assert.equal(q.symmetric, format.scheme.symmetric);
      const side = written.tensors.find((t) => t.name === `${module}.outlier_indices`);
      if (method !== "outlier") {
        assert.equal(side, undefined);
        assert.deepEqual(dense, values);
        continue;
      }
      // Dense part plus the side list (fp16 values written over their positions) = the method's weights.
      const idx = viewI32((await side!.read()).slice());
      const valRef = written.tensors.find((t) => t.name === `${module}.outlier_values`)!;
      const vals = toFloat32(await valRef.read(), valRef.type, idx.length);
      assert.ok(idx.length > 0);
      const full = dequantizeLinear(q);
      idx.forEach((i, k) => (full[i] = vals[k]!));
      assert.deepEqual(full, values, module);
    }
    // AWQ folds its scales into the norms: the written norms are the method's.
    if (method === "awq") {
      const b0 = await run.store.readBlock(0);
      const norm = written.tensors.find((t) => t.name === "model.layers.0.input_layernorm.weight")!;
      assert.deepEqual(toFloat32(await norm.read(), norm.type, DIMS.hiddenSize), b0.attnNorm);
      assert.ok(b0.linears.find((l) => l.name.endsWith("attn_output.weight"))!.report.awqRatio !== undefined, "v → o is searched without GQA");
    }
    await written.close();
  });
}

test("GGUF output: the method's ggml bytes, the method's norms, and the engine runs it as the in-memory model", { skip }, async () => {
  const { fs, model, windows } = await tinyModel();
  for (const method of ["gptq", "awq"] as const) {
    const run = await quantizeBlocks(model, { method, format: { kind: "codec", codec: getCodec("Q4_0")! }, calibration: windows });
    await writeQuantizedGguf(run, fs, `${method}.gguf`);
    const gguf = await openGgufModel(fs, `${method}.gguf`);
    for (let l = 0; l < run.numLayers; l++) {
      const b = await run.store.readBlock(l);
      for (const o of b.linears) {
        const t = gguf.tensors.find((x) => x.name === o.name)!;
        assert.equal(t.type.name, "Q4_0");
        assert.ok(o.weights?.kind === "codec");
        assert.deepEqual(await t.read(), o.weights.bytes, o.name);
      }
      const norm = gguf.tensors.find((x) => x.name === `blk.${l}.ffn_norm.weight`)!;
      assert.deepEqual(viewF32((await norm.read()).slice()), b.ffnNorm);
    }
    const tokens = Array.from(windows[0]!.subarray(0, 32));
    const fromFile = await (await LlamaEngine.create(gguf, { activations: "float32" })).forward(tokens);
    const inMemory = await (await LlamaEngine.create(quantizedModelSource(run), { activations: "float32" })).forward(tokens);
    assert.deepEqual(fromFile.logits, inMemory.logits);
    await gguf.close();
  }
});

class StopAfter implements Progress {
  private done = 0;
  constructor(private readonly blocks: number) {}
  start() {}
  advance(n: number) {
    this.done += n;
    if (this.done >= this.blocks) throw new Error("interrupted");
  }
  finish() {}
}

test("an interrupted run resumes after its last saved block and gives the uninterrupted result", { skip }, async () => {
  const { fs, model, windows } = await tinyModel();
  const options: SequentialQuantizeOptions = { method: "gptq", format: int(4, 32, true), calibration: windows };
  const whole = await quantizeBlocks(model, options);
  await assert.rejects(quantizeBlocks(model, { ...options, store: new DirectoryQuantizationStore(fs, "work"), progress: new StopAfter(1) }), /interrupted/);
  assert.ok(await fs.exists("work/block-0.safetensors"));
  assert.ok(!(await fs.exists("work/block-1.safetensors")));
  const resumed = await quantizeBlocks(model, { ...options, store: new DirectoryQuantizationStore(fs, "work"), resume: true });
  assert.equal(resumed.blocksQuantized, 1);
  // Compared as JSON (typed arrays as lists; absent and undefined fields alike).
  const plain = (v: unknown) => JSON.parse(JSON.stringify(v, (_k, x) => (ArrayBuffer.isView(x) ? Array.from(x as Float32Array) : x)));
  for (let l = 0; l < DIMS.numLayers; l++) assert.deepEqual(plain(await resumed.store.readBlock(l)), plain(await whole.store.readBlock(l)));
  // Other options (or model, or calibration data) than the saved run's: refused.
  await assert.rejects(
    quantizeBlocks(model, { ...options, method: "rtn", store: new DirectoryQuantizationStore(fs, "work"), resume: true }),
    /work\/progress\.json: was written by a run with another model, method, format or calibration data/,
  );
});

/** The model with one tensor's values replaced. */
function withTensor(model: ModelSource, name: string, change: (v: Float32Array) => void): ModelSource {
  const tensors = model.tensors.map((t): TensorRef => {
    if (t.name !== name) return t;
    return {
      ...t,
      read: async () => {
        const v = toFloat32(await t.read(), t.type, t.shape.reduce((a, b) => a * b, 1));
        change(v);
        return fromFloat32(v, t.type);
      },
    };
  });
  return { ...model, tensors };
}

test("dead input channels (always zero): GPTQ zeroes their weights and reports them", { skip }, async () => {
  const { model, windows } = await tinyModel();
  const dead = withTensor(model, "model.layers.0.input_layernorm.weight", (v) => v.fill(0, 5, 8));
  const run = await quantizeBlocks(dead, { method: "gptq", format: int(4, 32, true), calibration: windows });
  const b0 = await run.store.readBlock(0);
  for (const name of ["blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"]) {
    const o = b0.linears.find((l) => l.name === name)!;
    assert.equal(o.report.deadColumns, 3, name);
    const v = dequantizeWeights(o.weights!, o.rows, o.cols);
    for (let r = 0; r < o.rows; r++) for (let c = 5; c < 8; c++) assert.equal(v[r * o.cols + c], 0);
  }
  assert.equal(b0.linears.find((l) => l.name === "blk.0.ffn_up.weight")!.report.deadColumns, 0);
});

test("bad input fails before any work, naming the problem", { skip }, async () => {
  const { model, windows } = await tinyModel();
  const gpt2: ModelSource = { ...model, info: { ...model.info, architecture: "gpt2" } };
  await assert.rejects(quantizeBlocks(gpt2, { method: "rtn", format: int(4, 32, true) }), /architecture "gpt2" is not supported/);
  await assert.rejects(quantizeBlocks(model, { method: "rtn", format: int(4, 48, true) }), (e: Error) => e instanceof BitsmithError && /blk\.\*\.attn_\{q,k,v\}\.weight: rows have 64 values, not a multiple of group size 48/.test(e.message));
  await assert.rejects(quantizeBlocks(model, { method: "gptq", format: int(4, 32, true) }), /gptq needs calibration data/);
  await assert.rejects(quantizeBlocks(model, { method: "outlier", format: { kind: "codec", codec: getCodec("Q4_0")! }, calibration: windows }), /outlier method needs integer groups/);
  assert.throws(() => checkQuantizedHfLayout(model, int(3, 32, false), "awq"), /AWQ's GEMM layout stores 4 bits, not 3/);
  assert.doesNotThrow(() => checkQuantizedHfLayout(model, int(4, 32, false), "gptq", "error"));
});
