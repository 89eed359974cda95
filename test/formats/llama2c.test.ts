import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { BitsmithError, MemoryByteSource, NO_TOKEN_ID, TokenType } from "../../src/core/index.js";
import type { ModelSource, TokenizerInfo } from "../../src/core/index.js";
import { FileByteSource } from "../../src/node/fs.js";
import { openLlama2c, readLlama2cTokenizer } from "../../src/formats/llama2c/index.js";
import { readGguf } from "../../src/formats/gguf/reader.js";
import type { GgufFile } from "../../src/formats/gguf/reader.js";
import { GgufValueType } from "../../src/formats/gguf/values.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";

const MODELS = path.join(REFERENCE, "models");
const CHECKPOINT = path.join(MODELS, "stories260K", "stories260K.bin");
const TOKENIZER = path.join(MODELS, "stories260K", "tok512.bin");
const GGUF = path.join(MODELS, "stories260K-f32.gguf");
const skip = !hasSharedData && "shared data not found";

async function withReference<T>(fn: (model: ModelSource, gguf: GgufFile) => Promise<T>): Promise<T> {
  const model = await openLlama2c(await FileByteSource.open(CHECKPOINT), await FileByteSource.open(TOKENIZER));
  const ggufSource = await FileByteSource.open(GGUF);
  try {
    return await fn(model, await readGguf(ggufSource));
  } finally {
    await model.close();
    await ggufSource.close();
  }
}

test("stories260K: tensor names, order and shapes are those of llama.cpp's converter (models.json)", { skip }, async () => {
  const listed = JSON.parse(readFileSync(path.join(MODELS, "models.json"), "utf8")).source.tensors as Array<{ name: string; type: string; ne: number[] }>;
  const model = await openLlama2c(await FileByteSource.open(CHECKPOINT));
  try {
    assert.deepEqual(
      model.tensors.map((t) => ({ name: t.name, type: t.type.name, ne: [...t.shape].reverse() })),
      listed.map(({ name, type, ne }) => ({ name, type, ne })),
    );
    assert.deepEqual(model.tensors[0]!.shape, [512, 64]);
    assert.equal(model.info.tokenizer, undefined);
  } finally {
    await model.close();
  }
});

test("stories260K: every tensor holds the bytes of stories260K-f32.gguf, output.weight included", { skip }, async () => {
  await withReference(async (model, gguf) => {
    assert.equal(model.tensors.length, gguf.tensors.length);
    for (const [i, t] of model.tensors.entries()) {
      const ref = gguf.tensors[i]!;
      assert.equal(t.name, ref.name);
      assert.deepEqual(t.shape, ref.shape, t.name);
      assert.equal(t.byteLength, ref.byteLength, t.name);
      assert.deepEqual(await t.read(), await ref.read(), t.name);
    }
    const output = model.tensors.find((t) => t.name === "output.weight")!;
    assert.deepEqual(await output.read(100, 8), (await model.tensors[0]!.read()).subarray(100, 108));
  });
});

test("stories260K: hyperparameters match the llama.* keys llama.cpp wrote", { skip }, async () => {
  await withReference(async (model, gguf) => {
    const h = model.info.hparams!;
    const num = (key: string) => gguf.metadata.get(key)!.value;
    assert.equal(model.info.architecture, num("general.architecture"));
    assert.equal(model.info.name, num("general.name"));
    assert.equal(h.contextLength, num("llama.context_length"));
    assert.equal(h.hiddenSize, num("llama.embedding_length"));
    assert.equal(h.intermediateSize, num("llama.feed_forward_length"));
    assert.equal(h.numHeads, num("llama.attention.head_count"));
    assert.equal(h.numKvHeads, num("llama.attention.head_count_kv"));
    assert.equal(h.numLayers, num("llama.block_count"));
    assert.equal(h.headDim, num("llama.rope.dimension_count"));
    assert.equal(Math.fround(h.rmsNormEps), num("llama.attention.layer_norm_rms_epsilon"));
    assert.equal(gguf.metadata.get("llama.rope.freq_base"), undefined); // so llama.cpp's default, 10000
    assert.equal(h.ropeTheta, 10000);
    assert.equal(h.vocabSize, 512);
    assert.equal(h.tieWordEmbeddings, true);
    assert.equal(h.attentionBias, false);
    assert.deepEqual([...model.metadata], [["dim", 64], ["hidden_dim", 172], ["n_layers", 5], ["n_heads", 8], ["n_kv_heads", 4], ["vocab_size", 512], ["seq_len", 512]]);
  });
});

/** The GGUF key each TokenizerInfo field becomes (llama.cpp's names). */
const TOKENIZER_KEYS: Record<string, keyof TokenizerInfo> = {
  "tokenizer.ggml.model": "model",
  "tokenizer.ggml.tokens": "tokens",
  "tokenizer.ggml.scores": "scores",
  "tokenizer.ggml.token_type": "tokenTypes",
  "tokenizer.ggml.unknown_token_id": "unkId",
  "tokenizer.ggml.bos_token_id": "bosId",
  "tokenizer.ggml.eos_token_id": "eosId",
  "tokenizer.ggml.seperator_token_id": "sepId",
  "tokenizer.ggml.padding_token_id": "padId",
};

test("tok512.bin: the vocabulary reproduces every tokenizer.ggml.* key of stories260K-f32.gguf", { skip }, async () => {
  await withReference(async (model, gguf) => {
    const tok = model.info.tokenizer!;
    const ggufKeys = [...gguf.metadata.keys()].filter((k) => k.startsWith("tokenizer."));
    const ours = Object.entries(TOKENIZER_KEYS).filter(([, field]) => tok[field] !== undefined).map(([key]) => key);
    assert.deepEqual(ours.sort(), ggufKeys.sort());
    for (const key of ggufKeys) {
      const ref = gguf.metadata.get(key)!;
      const value = tok[TOKENIZER_KEYS[key]!];
      if (ref.type === GgufValueType.ARRAY && ref.itemType === GgufValueType.FLOAT32) {
        // Bit patterns, so that the -0.0 score of token 259 counts.
        assert.deepEqual(new Uint32Array((value as Float32Array).slice().buffer), new Uint32Array(ref.value.slice().buffer), key);
      } else if (ref.type === GgufValueType.ARRAY) {
        assert.deepEqual(value, ref.value, key);
      } else {
        assert.equal(ref.type, key === "tokenizer.ggml.model" ? GgufValueType.STRING : GgufValueType.UINT32, key);
        assert.equal(value, ref.value, key);
      }
    }
    assert.equal(tok.padId, NO_TOKEN_ID);
    assert.equal(Object.is(tok.scores![259], -0), true);
    assert.equal(tok.tokens[259], "\u2581t");
  });
});

// ---- synthetic checkpoints: layouts and errors ----

interface Dims {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seq: number;
}
const SMALL: Dims = { dim: 8, hidden: 12, layers: 2, heads: 2, kvHeads: 1, vocab: 10, seq: 4 };

/** Float counts per array, straight from llama2.c's run.c memory_map_weights. */
function arraySizes(d: Dims, shared: boolean): Array<[string, number]> {
  const kv = (d.dim * d.kvHeads) / d.heads;
  const headSize = d.dim / d.heads;
  const sizes: Array<[string, number]> = [
    ["token_embedding", d.vocab * d.dim],
    ["rms_att", d.layers * d.dim],
    ["wq", d.layers * d.dim * d.dim],
    ["wk", d.layers * d.dim * kv],
    ["wv", d.layers * d.dim * kv],
    ["wo", d.layers * d.dim * d.dim],
    ["rms_ffn", d.layers * d.dim],
    ["w1", d.layers * d.dim * d.hidden],
    ["w2", d.layers * d.hidden * d.dim],
    ["w3", d.layers * d.dim * d.hidden],
    ["rms_final", d.dim],
    ["freq_cis_real", (d.seq * headSize) / 2],
    ["freq_cis_imag", (d.seq * headSize) / 2],
  ];
  if (!shared) sizes.push(["wcls", d.vocab * d.dim]);
  return sizes;
}

/** A checkpoint whose float number i (after the header) has the value i; `header` overrides the stored ints. */
function checkpoint(d: Dims, shared: boolean, header?: number[], extraFloats = 0): Uint8Array {
  const floats = arraySizes(d, shared).reduce((a, [, n]) => a + n, 0) + extraFloats;
  const bytes = new Uint8Array(28 + floats * 4);
  const view = new DataView(bytes.buffer);
  const ints = header ?? [d.dim, d.hidden, d.layers, d.heads, d.kvHeads, shared ? d.vocab : -d.vocab, d.seq];
  ints.forEach((v, i) => view.setInt32(i * 4, v, true));
  for (let i = 0; i < floats; i++) view.setFloat32(28 + i * 4, i, true);
  return bytes;
}

function arrayStart(d: Dims, shared: boolean, name: string): number {
  let at = 0;
  for (const [n, size] of arraySizes(d, shared)) {
    if (n === name) return at;
    at += size;
  }
  throw new Error(name);
}

async function firstFloat(model: ModelSource, name: string): Promise<number> {
  const t = model.tensors.find((x) => x.name === name)!;
  return new DataView((await t.read(0, 4)).slice().buffer).getFloat32(0, true);
}

test("separate classifier: output.weight reads the trailing wcls array, not the embedding", async () => {
  const model = await openLlama2c(new MemoryByteSource(checkpoint(SMALL, false), "sep.bin"));
  assert.equal(model.info.hparams!.tieWordEmbeddings, false);
  assert.equal(model.metadata.get("vocab_size"), -10);
  assert.equal(await firstFloat(model, "output.weight"), arrayStart(SMALL, false, "wcls"));
  assert.equal(await firstFloat(model, "token_embd.weight"), 0);
  assert.deepEqual(model.tensors.find((t) => t.name === "output.weight")!.shape, [10, 8]);
});

test("layer tensors start where run.c's layout puts them (kv_dim = dim * n_kv_heads / n_heads)", async () => {
  const model = await openLlama2c(new MemoryByteSource(checkpoint(SMALL, true), "small.bin"));
  const kv = 4;
  const expect: Array<[string, number, number[]]> = [
    ["blk.1.attn_q.weight", arrayStart(SMALL, true, "wq") + 64, [8, 8]],
    ["blk.1.attn_k.weight", arrayStart(SMALL, true, "wk") + kv * 8, [kv, 8]],
    ["blk.1.attn_v.weight", arrayStart(SMALL, true, "wv") + kv * 8, [kv, 8]],
    ["blk.1.attn_output.weight", arrayStart(SMALL, true, "wo") + 64, [8, 8]],
    ["blk.1.attn_norm.weight", arrayStart(SMALL, true, "rms_att") + 8, [8]],
    ["blk.1.ffn_gate.weight", arrayStart(SMALL, true, "w1") + 96, [12, 8]],
    ["blk.1.ffn_down.weight", arrayStart(SMALL, true, "w2") + 96, [8, 12]],
    ["blk.1.ffn_up.weight", arrayStart(SMALL, true, "w3") + 96, [12, 8]],
    ["blk.1.ffn_norm.weight", arrayStart(SMALL, true, "rms_ffn") + 8, [8]],
    ["output_norm.weight", arrayStart(SMALL, true, "rms_final"), [8]],
    ["output.weight", 0, [10, 8]],
  ];
  for (const [name, first, shape] of expect) {
    assert.equal(await firstFloat(model, name), first, name);
    assert.deepEqual(model.tensors.find((t) => t.name === name)!.shape, shape, name);
  }
  assert.equal(model.info.hparams!.headDim, 4);
  assert.equal(model.info.hparams!.contextLength, 128);
});

async function openError(bytes: Uint8Array): Promise<BitsmithError> {
  try {
    await openLlama2c(new MemoryByteSource(bytes, "bad.bin"));
  } catch (e) {
    assert.ok(e instanceof BitsmithError, String(e));
    assert.equal(e.file, "bad.bin");
    return e;
  }
  throw new Error("no error");
}

test("a file smaller than the header is refused", async () => {
  const e = await openError(new Uint8Array(27));
  assert.equal(e.field, "header");
  assert.match(e.message, /27 bytes, smaller than the 28-byte/);
});

test("non-positive header values are refused, naming the field", async () => {
  const base = [8, 12, 2, 2, 1, 10, 4];
  const fields = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"];
  for (const [i, field] of fields.entries()) {
    const header = [...base];
    header[i] = field === "vocab_size" ? 0 : -3;
    const e = await openError(checkpoint(SMALL, true, header));
    assert.equal(e.field, field);
  }
});

test("inconsistent head counts are refused", async () => {
  assert.equal((await openError(checkpoint(SMALL, true, [8, 12, 2, 3, 1, 10, 4]))).field, "n_heads"); // 8 % 3
  assert.equal((await openError(checkpoint(SMALL, true, [6, 12, 2, 2, 1, 10, 4]))).field, "n_heads"); // head size 3 is odd
  assert.equal((await openError(checkpoint(SMALL, true, [8, 12, 2, 2, 4, 10, 4]))).field, "n_kv_heads"); // 4 > 2
});

test("a file size other than the header implies is refused, for both classifier layouts", async () => {
  const shortShared = await openError(checkpoint(SMALL, true).subarray(0, -4));
  assert.equal(shortShared.field, "header");
  assert.match(shortShared.message, /implies \d+ bytes/);
  const longSeparate = await openError(checkpoint(SMALL, false, undefined, 1));
  assert.equal(longSeparate.field, "header");
  // Absurd dimensions imply far more bytes than the file has; nothing is allocated for them.
  const huge = await openError(checkpoint(SMALL, true, [1 << 30, 1 << 30, 1 << 20, 2, 1, 1 << 30, 1 << 30]));
  assert.match(huge.message, /implies \d{20,} bytes/);
});

test("a shared-layout file with a negative vocab_size gets a hint about the sign", async () => {
  const bytes = checkpoint(SMALL, true);
  new DataView(bytes.buffer).setInt32(20, -SMALL.vocab, true);
  const e = await openError(bytes);
  assert.equal(e.field, "vocab_size");
  assert.match(e.message, /fits a shared classifier/);
});

test("tensor reads outside the tensor are refused", async () => {
  const model = await openLlama2c(new MemoryByteSource(checkpoint(SMALL, true), "small.bin"));
  const t = model.tensors.find((x) => x.name === "blk.0.ffn_norm.weight")!;
  await assert.rejects(t.read(28, 8), (e: unknown) => e instanceof BitsmithError && e.field === "blk.0.ffn_norm.weight");
});

// ---- tokenizer files ----

function tokenizerFile(tokens: Array<[score: number, bytes: number[]]>, trailing = 0): Uint8Array {
  const size = 4 + tokens.reduce((a, [, b]) => a + 8 + b.length, 0) + trailing;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setInt32(0, 7, true);
  let at = 4;
  for (const [score, bytes] of tokens) {
    view.setFloat32(at, score, true);
    view.setInt32(at + 4, bytes.length, true);
    out.set(bytes, at + 8);
    at += 8 + bytes.length;
  }
  return out;
}
const ascii = (s: string) => [...Buffer.from(s, "utf8")];

test("tokenizer: types follow llama.cpp's rules (fixed ids, empty text, <0x..> bytes) and spaces become U+2581", async () => {
  const file = tokenizerFile([
    [0, ascii("anything")],
    [0, ascii("\n<s>\n")],
    [0, ascii("\n</s>\n")],
    [0, []],
    [-1, ascii("<0x0A>")],
    [-2.5, ascii(" a b")],
    [-3, ascii("<0xZZ>")],
    [-4, [0xef, 0xbb, 0xbf]], // U+FEFF alone, a token of Llama's vocabulary
  ]);
  const tok = await readLlama2cTokenizer(new MemoryByteSource(file, "tok.bin"), 8);
  assert.deepEqual(tok.tokens, ["<unk>", "<s>", "</s>", "", "<0x0A>", "\u2581a\u2581b", "<0xZZ>", "\ufeff"]);
  assert.deepEqual([...tok.tokenTypes!], [TokenType.Unknown, TokenType.Control, TokenType.Control, TokenType.Control, TokenType.Byte, TokenType.Normal, TokenType.Normal, TokenType.Normal]);
  assert.deepEqual([...tok.scores!], [0, 0, 0, 0, -1, -2.5, -3, -4]);
});

test("tokenizer: truncation, extra tokens and invalid UTF-8 are refused, naming the token", async () => {
  const tokens: Array<[number, number[]]> = [[0, ascii("<unk>")], [0, ascii("<s>")], [0, ascii("</s>")]];
  const fail = async (bytes: Uint8Array, vocab: number, field: string) =>
    assert.rejects(readLlama2cTokenizer(new MemoryByteSource(bytes, "tok.bin"), vocab), (e: unknown) => e instanceof BitsmithError && e.file === "tok.bin" && e.field === field);
  await fail(tokenizerFile(tokens), 4, "token 3");
  await fail(tokenizerFile(tokens).subarray(0, -2), 3, "token 2");
  await fail(tokenizerFile(tokens, 5), 3, "vocab_size");
  await fail(tokenizerFile([...tokens, [0, [0xc3, 0x28]]]), 4, "token 3");
  await fail(new Uint8Array(2), 3, "max_token_length");
});

test("openLlama2c checks the tokenizer against the checkpoint's vocab_size", async () => {
  const tok = tokenizerFile(Array.from({ length: 9 }, (_, i) => [0, ascii(`t${i}`)] as [number, number[]]));
  await assert.rejects(openLlama2c(new MemoryByteSource(checkpoint(SMALL, true), "m.bin"), new MemoryByteSource(tok, "tok.bin")), /tok\.bin: token 9: file ends/);
});
