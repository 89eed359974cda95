/**
 * Conversions checked against llama.cpp: its own converter's GGUF of stories260K, node-llama-cpp loading
 * bitsmith's files, and round trips that must give back the same tensors.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import "../../src/codecs/index.js";
import type { ModelSource } from "../../src/core/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { convertToGguf } from "../../src/convert/to-gguf.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import { toFloat32 } from "../../src/codecs/convert.js";
import { REFERENCE, FIXTURES } from "../helpers/paths.js";
import { greedyTokens } from "../helpers/llama-cpp.js";

const MODELS = path.join(REFERENCE, "models");
const LLAMA2C = path.join(MODELS, "stories260K", "stories260K.bin");
const F32_GGUF = path.join(MODELS, "stories260K-f32.gguf");

function tmpDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), "bitsmith-convert-"));
}

async function tensorBytes(m: ModelSource): Promise<Map<string, { type: string; shape: readonly number[]; bytes: Uint8Array }>> {
  const out = new Map<string, { type: string; shape: readonly number[]; bytes: Uint8Array }>();
  for (const t of m.tensors) out.set(t.name, { type: t.type.name, shape: t.shape, bytes: await t.read() });
  return out;
}

async function assertSameTensors(a: ModelSource, b: ModelSource): Promise<void> {
  const ta = await tensorBytes(a);
  const tb = await tensorBytes(b);
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  for (const [name, x] of ta) {
    const y = tb.get(name)!;
    assert.equal(y.type, x.type, `${name}: type`);
    assert.deepEqual(y.shape, x.shape, `${name}: shape`);
    assert.ok(Buffer.from(x.bytes).equals(Buffer.from(y.bytes)), `${name}: bytes differ`);
  }
}

test("llama2.c stories260K -> GGUF is byte-identical to llama.cpp's convert-llama2c-to-ggml output", async () => {
  const dir = tmpDir();
  try {
    const src = await openModel(nodeFileSystem, LLAMA2C);
    const out = path.join(dir, "s.gguf");
    await convertToGguf(src, nodeFileSystem, out);
    await src.close();
    assert.ok(readFileSync(out).equals(readFileSync(F32_GGUF)), "files differ");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("GGUF -> HF -> GGUF gives identical tensors and the same hyperparameters (stories260K f32)", async () => {
  const dir = tmpDir();
  try {
    const orig = await openGgufModel(nodeFileSystem, F32_GGUF);
    await convertToHf(orig, nodeFileSystem, path.join(dir, "hf"));
    const hf = await openModel(nodeFileSystem, path.join(dir, "hf"));
    assert.equal(hf.format, "hf");
    // HF stores q/k rows in rotate-half order: the view must undo exactly what the writer did.
    const back = path.join(dir, "back.gguf");
    await convertToGguf(hf, nodeFileSystem, back);
    await hf.close();
    const again = await openGgufModel(nodeFileSystem, back);
    await assertSameTensors(orig, again);
    assert.deepEqual(again.info.hparams, orig.info.hparams);
    // tokenizer.model carries the scores and types llama.cpp's tokenizer needs through the HF directory.
    assert.deepEqual(again.info.tokenizer?.tokens, orig.info.tokenizer?.tokens);
    assert.deepEqual(again.info.tokenizer?.scores, orig.info.tokenizer?.scores);
    assert.deepEqual(again.info.tokenizer?.tokenTypes, orig.info.tokenizer?.tokenTypes);
    await orig.close();
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("HF q_proj rows are stored in rotate-half order (the inverse of llama.cpp's permute)", async () => {
  const dir = tmpDir();
  try {
    const orig = await openGgufModel(nodeFileSystem, F32_GGUF);
    await convertToHf(orig, nodeFileSystem, path.join(dir, "hf"));
    const hf = await openModel(nodeFileSystem, path.join(dir, "hf"));
    const q = hf.tensors.find((t) => t.name === "model.layers.0.self_attn.q_proj.weight")!;
    const g = orig.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    const hfRows = toFloat32(await q.read(), q.type, 64 * 64);
    const ggRows = toFloat32(await g.read(), g.type, 64 * 64);
    // head_dim 8: within a head, HF row i*4 + j is GGUF row 2j + i (convert_hf_to_gguf.py's LlamaModel.permute).
    const headDim = 8;
    for (let h = 0; h < 8; h++) {
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < headDim / 2; j++) {
          const hfRow = h * headDim + i * (headDim / 2) + j;
          const ggRow = h * headDim + 2 * j + i;
          assert.deepEqual(hfRows.subarray(hfRow * 64, hfRow * 64 + 64), ggRows.subarray(ggRow * 64, ggRow * 64 + 64));
        }
      }
    }
    await hf.close();
    await orig.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the tokenizer.json written for stories260K tokenizes like llama.cpp (Hugging Face tokenizers)", async () => {
  const dir = tmpDir();
  try {
    const orig = await openGgufModel(nodeFileSystem, F32_GGUF);
    await convertToHf(orig, nodeFileSystem, path.join(dir, "hf"));
    await orig.close();
    const tj = JSON.parse(readFileSync(path.join(dir, "hf", "tokenizer.json"), "utf8"));
    const tc = JSON.parse(readFileSync(path.join(dir, "hf", "tokenizer_config.json"), "utf8"));
    const tok = new Tokenizer(tj, tc);
    const ref = JSON.parse(readFileSync(path.join(REFERENCE, "tokenizer", "ts-head20k.first2000.json"), "utf8"));
    const ids = tok.encode(ref.text).ids;
    assert.deepEqual(ids, ref.tokens);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("llama.cpp (node-llama-cpp) generates the same tokens from bitsmith's GGUFs as from its own", async () => {
  const dir = tmpDir();
  try {
    const prompt = "Once upon a time, there was a little";
    const expected = await greedyTokens(F32_GGUF, prompt, 24);
    const fromLlama2c = path.join(dir, "a.gguf");
    const src = await openModel(nodeFileSystem, LLAMA2C);
    await convertToGguf(src, nodeFileSystem, fromLlama2c);
    await src.close();
    assert.deepEqual(await greedyTokens(fromLlama2c, prompt, 24), expected);

    const orig = await openGgufModel(nodeFileSystem, F32_GGUF);
    await convertToHf(orig, nodeFileSystem, path.join(dir, "hf"));
    await orig.close();
    const hf = await openModel(nodeFileSystem, path.join(dir, "hf"));
    const viaHf = path.join(dir, "b.gguf");
    await convertToGguf(hf, nodeFileSystem, viaHf);
    await hf.close();
    assert.deepEqual(await greedyTokens(viaHf, prompt, 24), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the ollama random-weight Llama GGUF fixture converts to HF and back with identical tensors", async () => {
  const dir = tmpDir();
  try {
    const file = path.join(FIXTURES, "ollama-llama-2-tiny-random", "llama-2-tiny-random.gguf");
    const orig = await openGgufModel(nodeFileSystem, file);
    await convertToHf(orig, nodeFileSystem, path.join(dir, "hf"));
    const hf = await openModel(nodeFileSystem, path.join(dir, "hf"));
    await convertToGguf(hf, nodeFileSystem, path.join(dir, "back.gguf"));
    await hf.close();
    const back = await openGgufModel(nodeFileSystem, path.join(dir, "back.gguf"));
    await assertSameTensors(orig, back);
    await orig.close();
    await back.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
