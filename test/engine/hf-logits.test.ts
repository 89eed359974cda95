/**
 * The same model in every layout gives the same logits: stories260K as llama.cpp's GGUF, as the Hugging Face
 * directory `bitsmith convert` makes of it (Q/K rows in HF order, undone by the GGUF view), and as the original
 * llama2.c checkpoint; all three within 1e-4 of llama.cpp's own logits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hasSharedData } from "../helpers/paths.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { openModel } from "../../src/model/open-model.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { logitsTokens, openStories, readF32, ref } from "./reference-data.js";

const skip = !hasSharedData && "shared reference data not found";

async function logitsOf(model: Awaited<ReturnType<typeof openModel>>): Promise<Float32Array> {
  const engine = await LlamaEngine.create(model);
  return (await engine.forward(logitsTokens())).logits;
}

test("HF and llama2.c layouts of stories260K give the GGUF's logits", { skip }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-hf-logits-"));
  try {
    const gguf = await openStories("f32");
    const fromGguf = await logitsOf(gguf);
    await convertToHf(gguf, nodeFileSystem, path.join(dir, "hf"));
    await gguf.close();
    const hf = await openModel(nodeFileSystem, path.join(dir, "hf"));
    assert.equal(hf.format, "hf");
    const fromHf = await logitsOf(hf);
    await hf.close();
    const l2c = await openModel(nodeFileSystem, ref("models", "stories260K", "stories260K.bin"));
    const fromLlama2c = await logitsOf(l2c);
    await l2c.close();
    const reference = readF32("logits", "ts-head20k.f32-kvf32-nofa.logits.f32");
    for (const [label, logits] of [["hf", fromHf], ["llama2c", fromLlama2c]] as const) {
      assert.equal(logits.length, fromGguf.length);
      let same = 0;
      let toRef = 0;
      for (let i = 0; i < logits.length; i++) {
        same = Math.max(same, Math.abs(logits[i]! - fromGguf[i]!));
        toRef = Math.max(toRef, Math.abs(logits[i]! - reference[i]!));
      }
      // The weights are bit-identical after the view's permutation, so the computation is the same.
      assert.equal(same, 0, `${label}: max abs diff to the GGUF's logits ${same}`);
      assert.ok(toRef <= 1e-4, `${label}: max abs diff to llama.cpp ${toRef}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
