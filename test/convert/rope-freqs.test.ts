/** Llama 3 rope scaling becomes llama.cpp's rope_freqs.weight tensor, computed as convert_hf_to_gguf.py does. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { llama3RopeFactors } from "../../src/model/rope-freqs.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { writeDemoModel } from "../../src/demo/demo-source.js";
import { convertToGguf } from "../../src/convert/to-gguf.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import type { LlamaHParams } from "../../src/core/index.js";

/** Llama 3.1 8B's published rope settings. */
const LLAMA31: LlamaHParams = {
  vocabSize: 128256, hiddenSize: 4096, intermediateSize: 14336, numLayers: 32, numHeads: 32, numKvHeads: 8, headDim: 128,
  contextLength: 131072, rmsNormEps: 1e-5, ropeTheta: 500000, tieWordEmbeddings: false, attentionBias: false,
  ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 },
};

test("llama3 rope factors follow Meta's published scaling rule", () => {
  const got = llama3RopeFactors(LLAMA31);
  assert.equal(got.length, 64);
  for (let i = 0; i < 64; i++) {
    // The rule from Llama 3.1's reference code, in float64: wavelengths under 8192/4 keep their frequency,
    // over 8192/1 are divided by 8, and in between interpolate smoothly.
    const wavelen = (2 * Math.PI) / (1 / Math.pow(500000, (2 * i) / 128));
    let want: number;
    if (wavelen < 2048) want = 1;
    else if (wavelen > 8192) want = 8;
    else {
      const smooth = (8192 / wavelen - 1) / (4 - 1);
      want = 1 / ((1 - smooth) / 8 + smooth);
    }
    assert.ok(Math.abs(got[i]! - want) <= 1e-5 * want, `factor ${i}: ${got[i]} vs ${want}`);
  }
  assert.equal(got[0], 1);
  assert.equal(got[63], 8);
});

test("a HF model with llama3 rope scaling converts with rope_freqs.weight first and no rope.scaling keys", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-rope-"));
  try {
    const hf = path.join(dir, "hf");
    await writeDemoModel(nodeFileSystem, hf);
    const configPath = path.join(hf, "config.json");
    const config = JSON.parse(readFileSync(configPath, "utf8"));
    config.rope_theta = 500000;
    config.rope_scaling = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    writeFileSync(configPath, JSON.stringify(config));
    const model = await openModel(nodeFileSystem, hf);
    await convertToGguf(model, nodeFileSystem, path.join(dir, "m.gguf"));
    await model.close();
    const g = await openGgufModel(nodeFileSystem, path.join(dir, "m.gguf"));
    assert.equal(g.tensors[0]!.name, "rope_freqs.weight");
    assert.deepEqual(g.tensors[0]!.shape, [config.head_dim / 2]);
    assert.equal([...g.metadata.keys()].some((k) => k.includes("rope.scaling")), false);
    await g.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
