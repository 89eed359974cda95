/**
 * llama.cpp itself (node-llama-cpp, one thread) loads bitsmith's quantized stories260K files and generates:
 * the same tokens as from llama.cpp's own files where those exist, and something for recipes it has no file for.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { quantizeModel } from "../../src/quantize/quantize-model.js";
import type { QuantizeModelOptions } from "../../src/quantize/quantize-model.js";
import { DEMO_MODEL_ARG } from "../../src/demo/demo-source.js";
import { greedyTokens } from "../helpers/llama-cpp.js";
import { F32_GGUF, LLAMA2C, MODELS } from "./reference-models.js";

const PROMPT = "Once upon a time, there was a little";

async function quantize(input: string, out: string, options: QuantizeModelOptions): Promise<void> {
  const src = await openModel(nodeFileSystem, input);
  try {
    await quantizeModel(src, nodeFileSystem, out, options);
  } finally {
    await src.close();
  }
}

test("node-llama-cpp generates from bitsmith's quantized files as from llama.cpp's, and runs recipes it has no file for", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-quantize-llama-"));
  try {
    // llama2.c checkpoint straight to Q4_K_M, and a Hugging Face directory straight to Q8_0.
    const q4km = path.join(dir, "q4km.gguf");
    await quantize(LLAMA2C, q4km, { type: "Q4_K_M" });
    assert.deepEqual(await greedyTokens(q4km, PROMPT, 24), await greedyTokens(path.join(MODELS, "stories260K-Q4_K_M.gguf"), PROMPT, 24));
    const f32 = await openGgufModel(nodeFileSystem, F32_GGUF);
    await convertToHf(f32, nodeFileSystem, path.join(dir, "hf"));
    await f32.close();
    const q8 = path.join(dir, "q8.gguf");
    await quantize(path.join(dir, "hf"), q8, { type: "Q8_0", tensorTypes: ["ffn_down=f16"] });
    assert.deepEqual(await greedyTokens(q8, PROMPT, 24), await greedyTokens(path.join(MODELS, "stories260K-Q8_0.gguf"), PROMPT, 24));
    for (const type of ["Q3_K_M", "IQ4_XS", "Q5_K_S", "TQ2_0"]) {
      const out = path.join(dir, `${type}.gguf`);
      await quantize(F32_GGUF, out, { type });
      assert.equal((await greedyTokens(out, PROMPT, 16)).length, 16, type);
    }
    // stories260K's rows (64, 172) never fit a k-quant block; the demo model's (256, 768) do.
    const demo = path.join(dir, "demo-Q4_K_M.gguf");
    await quantize(DEMO_MODEL_ARG, demo, { type: "Q4_K_M" });
    const m = await openGgufModel(nodeFileSystem, demo);
    const types = new Set(m.tensors.map((t) => t.type.name));
    await m.close();
    assert.ok(types.has("Q4_K") && types.has("Q6_K"), [...types].join(","));
    assert.equal((await greedyTokens(demo, "Hello", 8)).length, 8);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
