/**
 * Reading real GGUF files made by llama.cpp and others, checked against independent descriptions of them:
 * models.json (tensor names, types and ne as llama.cpp listed them), reference/README.md (hyperparameters),
 * the llama2.c checkpoint the f32 model was converted from, llama-tokenize's pieces, and published facts
 * about the vocabularies.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { FileByteSource, nodeFileSystem } from "../../src/node/fs.js";
import { GgufValueType as T, gguf, ggufModelInfo, openGgufModel, readGguf } from "../../src/formats/gguf/index.js";
import type { GgufFile, GgufValue } from "../../src/formats/gguf/index.js";
import { FIXTURES, REFERENCE, hasSharedData } from "../helpers/paths.js";

const MODELS = path.join(REFERENCE, "models");
const F32_MODEL = path.join(MODELS, "stories260K-f32.gguf");
const skip = !hasSharedData && "shared data not found";

interface ModelsJson {
  source: { tensors: { name: string; type: string; ne: number[] }[] };
  models: { type: string; file: string; tensor_types: Record<string, string> }[];
}
const modelsJson = (): ModelsJson => JSON.parse(readFileSync(path.join(MODELS, "models.json"), "utf8"));

async function withGguf<R>(file: string, fn: (g: GgufFile) => Promise<R>): Promise<R> {
  const source = await FileByteSource.open(file);
  try {
    return await fn(await readGguf(source));
  } finally {
    await source.close();
  }
}

/** Every tensor lies aligned inside the file, and llama.cpp's writer packs them in header order. */
function assertLayout(g: GgufFile): void {
  let expectedOffset = 0;
  for (const t of g.tensors) {
    assert.equal(t.offset, expectedOffset, `${t.name} offset`);
    assert.equal((g.dataOffset + t.offset) % g.alignment, 0);
    expectedOffset += Math.ceil(t.byteLength / g.alignment) * g.alignment;
  }
  assert.equal(g.dataOffset + expectedOffset, g.source.size, "data ends at the end of the file");
}

test("stories260K-f32.gguf: tensor list as models.json lists it", { skip }, async () => {
  const expected = modelsJson().source.tensors;
  await withGguf(F32_MODEL, async (g) => {
    assert.equal(g.version, 3);
    assert.equal(g.alignment, 32);
    assert.deepEqual(
      g.tensors.map((t) => ({ name: t.name, type: t.type.name, ne: [...t.ne] })),
      expected,
    );
    for (const t of g.tensors) {
      assert.deepEqual(t.shape, [...t.ne].reverse());
      assert.equal(t.byteLength, t.ne.reduce((a, b) => a * b, 1) * 4);
    }
    assertLayout(g);
  });
});

test("stories260K-f32.gguf: tensor bytes are the llama2.c checkpoint's arrays", { skip }, async () => {
  // stories260K.bin: 7 int32 of config, then f32 token_embedding [512][64], rms_att [5][64], wq [5][64][64] ...
  const ckpt = readFileSync(path.join(MODELS, "stories260K", "stories260K.bin"));
  const floatsAt = (index: number, count: number) => new Uint8Array(ckpt.buffer, ckpt.byteOffset + 28 + index * 4, count * 4);
  const embd = floatsAt(0, 512 * 64);
  const rmsAtt0 = floatsAt(512 * 64, 64);
  const wq0 = floatsAt(512 * 64 + 5 * 64, 64 * 64);
  await withGguf(F32_MODEL, async (g) => {
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    assert.deepEqual(await byName.get("token_embd.weight")!.read(), embd);
    assert.deepEqual(await byName.get("output.weight")!.read(), embd, "the shared classifier is a copy of the embedding");
    assert.deepEqual(await byName.get("blk.0.attn_norm.weight")!.read(), rmsAtt0);
    assert.deepEqual(await byName.get("blk.0.attn_q.weight")!.read(), wq0);
    // A byte range of a tensor: row 3 of the embedding.
    assert.deepEqual(await byName.get("token_embd.weight")!.read(3 * 256, 256), embd.subarray(3 * 256, 4 * 256));
    await assert.rejects(byName.get("output_norm.weight")!.read(0, 257), /outside the tensor/);
  });
});

test("stories260K-f32.gguf: ModelInfo matches the reference README and llama2.c tokenizer", { skip }, async () => {
  const model = await openGgufModel(nodeFileSystem, F32_MODEL);
  try {
    const { info } = model;
    assert.equal(info.architecture, "llama");
    assert.deepEqual(info.hparams, {
      vocabSize: 512,
      hiddenSize: 64,
      intermediateSize: 172,
      numLayers: 5,
      numHeads: 8,
      numKvHeads: 4,
      headDim: 8,
      contextLength: 128,
      rmsNormEps: Math.fround(1e-5),
      ropeTheta: 10000,
      ropeScaling: undefined,
      tieWordEmbeddings: false, // the converter writes output.weight as a copy
      attentionBias: false,
    });
    const tok = info.tokenizer!;
    assert.equal(tok.model, "llama");
    assert.equal(tok.tokens.length, 512);
    assert.deepEqual([tok.unkId, tok.bosId, tok.eosId], [0, 1, 2]);
    assert.deepEqual(tok.tokens.slice(0, 4), ["<unk>", "<s>", "</s>", "<0x00>"]);
    assert.equal(tok.tokens[258], "<0xFF>");
    // llama-tokenize's output names the piece of every id it produced.
    const tokenized = JSON.parse(readFileSync(path.join(REFERENCE, "tokenizer", "ts-head20k.first2000.json"), "utf8"));
    tokenized.tokens.forEach((id: number, i: number) => assert.equal(tok.tokens[id], tokenized.pieces[i]));
    // The scores are the llama2.c tokenizer's (tok512.bin: i32 max length, then f32 score, i32 length, bytes).
    const tk = readFileSync(path.join(MODELS, "stories260K", "tok512.bin"));
    const view = new DataView(tk.buffer, tk.byteOffset, tk.byteLength);
    let at = 4;
    const scores: number[] = [];
    for (let i = 0; i < 512; i++) {
      scores.push(view.getFloat32(at, true));
      at += 8 + view.getInt32(at + 4, true);
    }
    assert.deepEqual(Array.from(tok.scores!), scores);
    assert.equal(tok.tokenTypes![0], 2); // unknown
    assert.equal(tok.tokenTypes![1], 3); // control
    assert.equal(tok.tokenTypes![3], 6); // byte
  } finally {
    await model.close();
  }
});

test("every quantized stories260K model: tensor types as models.json lists them", { skip }, async () => {
  const { source, models } = modelsJson();
  const neByName = new Map(source.tensors.map((t) => [t.name, t.ne]));
  assert.ok(models.length >= 9);
  for (const m of models) {
    await withGguf(path.join(REFERENCE, m.file), async (g) => {
      assert.equal(g.tensors.length, Object.keys(m.tensor_types).length, m.file);
      for (const t of g.tensors) {
        assert.equal(t.type.name, m.tensor_types[t.name], `${m.file} ${t.name}`);
        assert.deepEqual(t.ne, neByName.get(t.name), `${m.file} ${t.name}`);
        const elements = t.ne.reduce((a, b) => a * b, 1);
        assert.equal(t.byteLength, (elements / t.type.blockSize) * t.type.typeSize);
      }
      assertLayout(g);
    });
  }
});

test("imatrix GGUF: 35 matrices as <name>.in_sum2 and <name>.counts (README section 5)", { skip }, async () => {
  await withGguf(path.join(MODELS, "imatrix-ts-head20k.gguf"), async (g) => {
    assert.equal(g.metadata.get("general.type")?.value, "imatrix");
    assert.equal(g.tensors.length, 70);
    assert.equal(g.tensors.filter((t) => t.name.endsWith(".in_sum2")).length, 35);
    assertLayout(g);
  });
});

test("ollama's llama-2-tiny-random.gguf", { skip }, async () => {
  const model = await openGgufModel(nodeFileSystem, path.join(FIXTURES, "ollama-llama-2-tiny-random", "llama-2-tiny-random.gguf"));
  try {
    assert.equal(model.info.name, "LLaMA v2");
    const hp = model.info.hparams!;
    assert.deepEqual(
      [hp.vocabSize, hp.hiddenSize, hp.intermediateSize, hp.numLayers, hp.numHeads, hp.numKvHeads, hp.headDim, hp.contextLength],
      [32000, 8, 32, 1, 2, 2, 4, 4096],
    );
    assert.deepEqual(model.tensors.find((t) => t.name === "token_embd.weight")!.shape, [32000, 8]);
    assert.equal(model.tensors.length, 12);
    for (const t of model.tensors) assert.ok(t.type.name === "F16" || t.type.name === "F32", t.name);
    assertLayout(model.shards[0]!);
  } finally {
    await model.close();
  }
});

test("llama.cpp's vocabulary GGUFs (no tensors)", { skip }, async () => {
  const dir = path.join(FIXTURES, "llama.cpp-vocab-gguf");
  const open = (name: string) => openGgufModel(nodeFileSystem, path.join(dir, name));
  const maxId = (name: string) => Math.max(...readFileSync(path.join(dir, `${name}.out`), "utf8").split(/\s+/).filter(Boolean).map(Number));

  const gpt2 = await open("ggml-vocab-gpt-2.gguf");
  const t2 = gpt2.info.tokenizer!;
  assert.equal(gpt2.tensors.length, 0);
  assert.equal(t2.model, "gpt2");
  assert.equal(t2.pre, "gpt-2");
  assert.equal(t2.tokens.length, 50257); // GPT-2's published vocabulary size
  assert.equal(t2.merges!.length, 50000);
  assert.equal(t2.tokens[50256], "<|endoftext|>");
  assert.deepEqual([t2.bosId, t2.eosId], [50256, 50256]);
  assert.ok(maxId("ggml-vocab-gpt-2.gguf") < 50257);
  assert.equal(gpt2.info.hparams!.numLayers, 12);
  await gpt2.close();

  const spm = await open("ggml-vocab-llama-spm.gguf");
  const ts = spm.info.tokenizer!;
  assert.equal(ts.tokens.length, 32000);
  assert.equal(spm.info.hparams!.vocabSize, 32000);
  assert.deepEqual([ts.addBos, ts.addEos], [true, false]);
  assert.ok(maxId("ggml-vocab-llama-spm.gguf") < 32000);
  await spm.close();

  const phi3 = await open("ggml-vocab-phi-3.gguf");
  const t3 = phi3.info.tokenizer!;
  assert.equal(t3.tokens.length, 32064);
  assert.equal(t3.tokens[t3.eosId!], "<|endoftext|>");
  assert.equal(t3.padId, 32000);
  assert.match(t3.chatTemplate!, /<\|user\|>/);
  assert.ok(maxId("ggml-vocab-phi-3.gguf") < 32064);
  await phi3.close();
});

test("ModelInfo from metadata: llama.cpp's defaults, rope scaling, tied embeddings, qwen2 biases", () => {
  const meta = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("qwen2")],
    ["qwen2.block_count", gguf.u32(2)],
    ["qwen2.embedding_length", gguf.u32(64)],
    ["qwen2.feed_forward_length", gguf.u32(128)],
    ["qwen2.attention.head_count", gguf.u32(4)],
    ["qwen2.context_length", gguf.u64(32768)], // some converters write u64
    ["qwen2.attention.layer_norm_rms_epsilon", gguf.f32(1e-6)],
    ["qwen2.rope.scaling.type", gguf.str("yarn")],
    ["qwen2.rope.scaling.factor", gguf.f32(4)],
    ["qwen2.rope.scaling.original_context_length", gguf.u32(8192)],
    ["qwen2.vocab_size", gguf.u32(1000)],
  ]);
  const tensors = [{ name: "token_embd.weight", shape: [1000, 64] }, { name: "blk.0.attn_q.bias", shape: [64] }];
  const hp = ggufModelInfo(meta, tensors).hparams!;
  assert.equal(hp.numKvHeads, 4, "head_count_kv defaults to head_count");
  assert.equal(hp.headDim, 16, "head size defaults to embedding_length / head_count");
  assert.equal(hp.ropeTheta, 10000, "rope.freq_base defaults to 10000");
  assert.equal(hp.contextLength, 32768);
  assert.deepEqual(hp.ropeScaling, { type: "yarn", factor: 4, originalContextLength: 8192 });
  assert.equal(hp.tieWordEmbeddings, true, "no output.weight");
  assert.equal(hp.attentionBias, true);
  assert.equal(hp.vocabSize, 1000);
  assert.equal(ggufModelInfo(meta, tensors).tokenizer, undefined);

  meta.set("qwen2.rope.scaling.type", gguf.str("none"));
  assert.equal(ggufModelInfo(meta, tensors).hparams!.ropeScaling, undefined);
  meta.delete("qwen2.rope.scaling.type");
  meta.delete("qwen2.rope.scaling.factor");
  meta.set("qwen2.rope.scale_linear", gguf.f32(2)); // the older key
  assert.deepEqual(ggufModelInfo(meta, tensors).hparams!.ropeScaling, { type: "linear", factor: 2, originalContextLength: 8192 });

  meta.delete("qwen2.vocab_size");
  assert.equal(ggufModelInfo(meta, tensors).hparams!.vocabSize, 1000, "falls back to token_embd.weight");
  meta.delete("qwen2.attention.head_count");
  assert.throws(() => ggufModelInfo(meta, tensors, "m.gguf"), /m\.gguf: qwen2\.attention\.head_count: missing/);
  meta.set("qwen2.attention.head_count", gguf.arr(T.UINT32, [4, 4]));
  assert.throws(() => ggufModelInfo(meta, tensors), /expected a number, found ARRAY of UINT32/);
  assert.throws(() => ggufModelInfo(new Map(), []), /general\.architecture: missing/);
});
