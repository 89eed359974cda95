import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { BitsmithError, TokenType } from "../../src/core/index.js";
import type { TokenizerInfo } from "../../src/core/index.js";
import { FileByteSource } from "../../src/node/fs.js";
import { hfTokenizerInfo, parseSentencePieceModel, preTokenizerForHash, SentencePieceType } from "../../src/formats/hf/index.js";
import type { HfTokenizerFiles, TextFile } from "../../src/formats/hf/index.js";
import { readSpecialVocab } from "../../src/formats/hf/special-vocab.js";
import { mergesOf, parseMergesTxt } from "../../src/formats/hf/vocab-bpe.js";
import { readGguf } from "../../src/formats/gguf/reader.js";
import type { GgufMetadata } from "../../src/formats/gguf/values.js";
import { FIXTURES, hasSharedData } from "../helpers/paths.js";

const skip = !hasSharedData && "shared data not found";
const VOCABS = path.join(FIXTURES, "llama.cpp-vocab-gguf");
const TINY_GPT2 = path.join(FIXTURES, "hf-tiny-random-gpt2-safetensors");
const ORT_GPT2 = path.join(FIXTURES, "onnxruntime-genai-tiny-random-gpt2-fp32");

const file = (p: string): TextFile => ({ path: p, text: readFileSync(p, "utf8") });
const mem = (p: string, value: unknown): TextFile => ({ path: p, text: JSON.stringify(value) });
const readJson = (p: string) => JSON.parse(readFileSync(p, "utf8")) as Record<string, unknown>;

async function ggufMetadata(name: string): Promise<GgufMetadata> {
  const source = await FileByteSource.open(path.join(VOCABS, name));
  try {
    return (await readGguf(source)).metadata;
  } finally {
    await source.close();
  }
}
const value = (meta: GgufMetadata, key: string) => meta.get(key)?.value;

/** The TokenizerInfo field each tokenizer.* GGUF key comes from. */
const KEY_FIELDS: Record<string, keyof TokenizerInfo> = {
  "tokenizer.ggml.model": "model",
  "tokenizer.ggml.pre": "pre",
  "tokenizer.ggml.tokens": "tokens",
  "tokenizer.ggml.scores": "scores",
  "tokenizer.ggml.token_type": "tokenTypes",
  "tokenizer.ggml.merges": "merges",
  "tokenizer.ggml.bos_token_id": "bosId",
  "tokenizer.ggml.eos_token_id": "eosId",
  "tokenizer.ggml.unknown_token_id": "unkId",
  "tokenizer.ggml.padding_token_id": "padId",
  "tokenizer.ggml.add_bos_token": "addBos",
  "tokenizer.ggml.add_eos_token": "addEos",
};

/** Every tokenizer.* key of `meta` is reproduced by `info`, and `info` sets no key `meta` lacks. */
function assertSameTokenizerKeys(info: TokenizerInfo, meta: GgufMetadata): void {
  const keys = [...meta.keys()].filter((k) => k.startsWith("tokenizer."));
  const ours = Object.entries(KEY_FIELDS).filter(([, f]) => info[f] !== undefined).map(([k]) => k);
  assert.deepEqual(ours.sort(), [...keys].sort());
  for (const key of keys) {
    const ref = meta.get(key)!.value;
    const got = info[KEY_FIELDS[key]!];
    if (ref instanceof Float32Array) {
      assert.deepEqual(new Uint32Array((got as Float32Array).slice().buffer), new Uint32Array(ref.slice().buffer), key);
    } else {
      assert.deepEqual(got, ref, key);
    }
  }
}

/** GPT-2's tokenizer.json components (pre-tokenizer, decoder, post-processor) around a given vocabulary. */
function byteLevelTokenizerJson(vocab: string[], merges: string[], added: Array<Record<string, unknown>>): Record<string, unknown> {
  const base = readJson(path.join(TINY_GPT2, "tokenizer.json"));
  const model = { ...(base.model as Record<string, unknown>), vocab: Object.fromEntries(vocab.map((t, i) => [t, i])), merges };
  return { ...base, model, added_tokens: added };
}
const endOfText = (id: number) => ({ id, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

test("GPT-2: a tokenizer.json with ggml-vocab-gpt-2.gguf's vocabulary reproduces its tokenizer keys, pre 'gpt-2' by hash", { skip }, async () => {
  const meta = await ggufMetadata("ggml-vocab-gpt-2.gguf");
  const tokens = value(meta, "tokenizer.ggml.tokens") as string[];
  const merges = value(meta, "tokenizer.ggml.merges") as string[];
  const files: HfTokenizerFiles = {
    // openai-community/gpt2's config.json and tokenizer_config.json, the parts llama.cpp reads.
    config: mem("config.json", { model_type: "gpt2", vocab_size: 50257, bos_token_id: 50256, eos_token_id: 50256 }),
    tokenizerConfig: mem("tokenizer_config.json", { model_max_length: 1024 }),
    tokenizerJson: mem("tokenizer.json", byteLevelTokenizerJson(tokens.slice(0, 50256), merges, [endOfText(50256)])),
  };
  const info = await hfTokenizerInfo(files, { modelType: "qwen2" });
  assertSameTokenizerKeys(info, meta);
});

test("GPT-2 vocabulary with CodeGen's whitespace tokens (onnxruntime fixture): real merges, pre 'phi-2', user-defined added tokens", { skip }, async () => {
  const meta = await ggufMetadata("ggml-vocab-gpt-2.gguf");
  const info = await hfTokenizerInfo(
    { config: file(path.join(ORT_GPT2, "config.json")), tokenizerJson: file(path.join(ORT_GPT2, "tokenizer.json")), tokenizerConfig: file(path.join(ORT_GPT2, "tokenizer_config.json")) },
    { modelType: "qwen2" },
  );
  assert.equal(info.model, "gpt2");
  assert.equal(info.pre, "phi-2");
  assert.deepEqual(info.tokens.slice(0, 50257), value(meta, "tokenizer.ggml.tokens"));
  assert.deepEqual(info.tokenTypes!.slice(0, 50257), value(meta, "tokenizer.ggml.token_type"));
  assert.deepEqual(info.merges, value(meta, "tokenizer.ggml.merges"));
  assert.equal(info.tokens.length, 50257 + 38);
  assert.deepEqual([info.tokens[50257], info.tokens[50294]], [" ".repeat(31), "\t\t"]);
  assert.ok(info.tokenTypes!.slice(50257).every((t) => t === TokenType.UserDefined));
});

test("an unknown BPE pre-tokenizer is refused with its hash, as llama.cpp does (tiny random GPT-2)", { skip }, async () => {
  const files: HfTokenizerFiles = { config: file(path.join(TINY_GPT2, "config.json")), tokenizerJson: file(path.join(TINY_GPT2, "tokenizer.json")), tokenizerConfig: file(path.join(TINY_GPT2, "tokenizer_config.json")) };
  await assert.rejects(hfTokenizerInfo(files, { modelType: "qwen2" }), (e: unknown) => e instanceof BitsmithError && e.file === files.tokenizerJson!.path && /chkhsh [0-9a-f]{64}/.test(e.message));
  const info = await hfTokenizerInfo(files, { modelType: "qwen2", pre: "gpt-2" });
  assert.equal(info.pre, "gpt-2");
  assert.equal(info.tokens.length, 1000);
  assert.deepEqual([info.tokens[0], info.tokenTypes![0]], ["<|endoftext|>", TokenType.Control]);
  // merges.txt of the same directory says the same as tokenizer.json's merges.
  assert.deepEqual(info.merges, parseMergesTxt(readFileSync(path.join(TINY_GPT2, "merges.txt"), "utf8")));
  assert.equal(info.merges!.length, 806);
  // Special ids: tokenizer_config.json's tokens found among the added tokens first, config.json only for the rest.
  assert.deepEqual([info.bosId, info.eosId, info.unkId, info.padId], [0, 0, 0, 98]);
});

test("the pre-tokenizer table and check text are llama.cpp's", () => {
  assert.equal(preTokenizerForHash("0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5"), "llama-bpe");
  assert.equal(preTokenizerForHash("e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea"), "qwen2");
  assert.equal(preTokenizerForHash("63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e"), "tekken");
  // A hash listed twice takes the later name, as llama.cpp's chain of ifs does.
  assert.equal(preTokenizerForHash("b6dc8df998e1cfbdc4eac8243701a65afe638679230920b50d6f17d81c098166"), "olmo");
});

test("config.json's vocab_size pads unused ids; added tokens are typed as llama.cpp types them", { skip }, async () => {
  const tj = readJson(path.join(TINY_GPT2, "tokenizer.json"));
  const vocab = (tj.model as { vocab: Record<string, number> }).vocab;
  const added = [
    endOfText(0),
    { id: 1000, content: "<|im_start|>", special: false, normalized: false }, // special-looking: control
    { id: 1001, content: "\u2581user\u2581name", special: false, normalized: true }, // user-defined, U+2581 -> space
    { id: 1002, content: "<extra>", special: true, normalized: false },
  ];
  const info = await hfTokenizerInfo(
    { config: mem("config.json", { vocab_size: 1005 }), tokenizerJson: mem("tokenizer.json", { ...tj, added_tokens: added }) },
    { modelType: "qwen2", pre: "gpt-2" },
  );
  assert.equal(Object.keys(vocab).length, 1000);
  assert.deepEqual(info.tokens.slice(1000), ["<|im_start|>", " user name", "<extra>", "[PAD1003]", "[PAD1004]"]);
  assert.deepEqual([...info.tokenTypes!.slice(1000)], [TokenType.Control, TokenType.UserDefined, TokenType.Control, TokenType.Unused, TokenType.Unused]);
  await assert.rejects(
    hfTokenizerInfo({ config: mem("config.json", { vocab_size: 1001 }), tokenizerJson: mem("tokenizer.json", { ...tj, added_tokens: added }) }, { modelType: "qwen2", pre: "gpt-2" }),
    (e: unknown) => e instanceof BitsmithError && /beyond vocab_size 1001/.test(e.message),
  );
});

test("merges given as pairs are joined with a space; spaces inside a part become U+0120", () => {
  assert.deepEqual(mergesOf({ model: { merges: [["a", "b"], ["c d", "e"]] } }, "t.json"), ["a b", "c\u0120d e"]);
  assert.deepEqual(mergesOf({ model: { merges: ["a b"] } }, "t.json"), ["a b"]);
  assert.throws(() => mergesOf({ model: { merges: [["a"]] } }, "t.json"), (e: unknown) => e instanceof BitsmithError && e.field === "model.merges[0]");
  assert.deepEqual(parseMergesTxt("#version: 0.2\na b\n\nc d e\nf  g\n"), ["a b", "f g"]);
});

// ---- SentencePiece ----

/** A minimal protobuf writer (the wire format of developers.google.com/protocol-buffers/docs/encoding). */
const varint = (n: number): number[] => {
  const out: number[] = [];
  do {
    out.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
};
const tag = (field: number, wire: number) => varint(field * 8 + wire);
const bytesField = (field: number, bytes: ArrayLike<number>) => [...tag(field, 2), ...varint(bytes.length), ...Array.from(bytes)];
const floatField = (field: number, v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, v, true);
  return [...tag(field, 5), ...b];
};
const varintField = (field: number, v: number) => [...tag(field, 0), ...varint(v)];

/** A ModelProto holding `pieces`, with a trainer spec, a normalizer spec and unknown fields around them. */
function sentencePieceModel(pieces: Array<{ piece: string; score: number; type: number }>): Uint8Array {
  const out: number[] = [...bytesField(2, [...varintField(3, 8000), ...bytesField(1, Buffer.from("model"))])]; // trainer_spec
  for (const [i, p] of pieces.entries()) {
    const body = [...varintField(3, p.type), ...floatField(2, p.score), ...bytesField(1, Buffer.from(p.piece, "utf8"))];
    if (i % 1000 === 7) body.push(...varintField(15, 123456789), ...tag(14, 1), 1, 2, 3, 4, 5, 6, 7, 8); // fields sentencepiece does not define
    out.push(...bytesField(1, body));
  }
  out.push(...bytesField(3, [...varintField(3, 1)])); // normalizer_spec
  return new Uint8Array(out);
}

test("tokenizer.model: llama-spm's vocabulary reproduces ggml-vocab-llama-spm.gguf's tokenizer keys", { skip }, async () => {
  const meta = await ggufMetadata("ggml-vocab-llama-spm.gguf");
  const tokens = value(meta, "tokenizer.ggml.tokens") as string[];
  const scores = value(meta, "tokenizer.ggml.scores") as Float32Array;
  const types = value(meta, "tokenizer.ggml.token_type") as Int32Array;
  // The GGUF types were made from SentencePiece types by llama.cpp's mapping, which is one to one for these.
  const spType = new Map([[TokenType.Normal, SentencePieceType.Normal], [TokenType.Unknown, SentencePieceType.Unknown], [TokenType.Control, SentencePieceType.Control], [TokenType.Byte, SentencePieceType.Byte]]);
  const model = sentencePieceModel(tokens.map((piece, i) => ({ piece, score: scores[i]!, type: spType.get(types[i]!)! })));
  const added = [0, 1, 2].map((id) => ({ id, content: tokens[id], special: true, normalized: false }));
  const info = await hfTokenizerInfo(
    {
      // meta-llama/Llama-2-7b-hf: config.json, tokenizer_config.json, and tokenizer.json's added tokens.
      config: mem("config.json", { model_type: "llama", vocab_size: 32000, bos_token_id: 1, eos_token_id: 2 }),
      tokenizerModel: { path: "tokenizer.model", bytes: model },
      tokenizerConfig: mem("tokenizer_config.json", { add_bos_token: true, add_eos_token: false, bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", pad_token: null }),
      tokenizerJson: mem("tokenizer.json", { added_tokens: added, model: { type: "BPE", vocab: {}, merges: [] } }),
    },
    { modelType: "llama" },
  );
  assertSameTokenizerKeys(info, meta);
});

test("tokenizer.model: pieces beyond vocab_size are dropped; added_tokens.json and added_tokens_decoder override", async () => {
  const model = sentencePieceModel([
    { piece: "<unk>", score: 0, type: SentencePieceType.Unknown },
    { piece: "<s>", score: 0, type: SentencePieceType.Control },
    { piece: "▁a", score: -1, type: SentencePieceType.UserDefined },
    { piece: "x", score: -2, type: SentencePieceType.Unused },
    { piece: "y", score: -3, type: 9 },
    { piece: "z", score: -4, type: SentencePieceType.Normal },
  ]);
  const info = await hfTokenizerInfo(
    {
      config: mem("config.json", { vocab_size: 8 }),
      tokenizerModel: { path: "tokenizer.model", bytes: model },
      addedTokensJson: mem("added_tokens.json", { "<pad>": 6, "<late>": 9 }),
      tokenizerConfig: mem("tokenizer_config.json", { added_tokens_decoder: { "5": { content: "\u2581b", special: false }, "7": { content: "<|x|>", special: false } } }),
    },
    { modelType: "mistral" },
  );
  assert.deepEqual(info.tokens, ["<unk>", "<s>", "▁a", "x", "y", " b", "<pad>", "<|x|>"]);
  assert.deepEqual([...info.tokenTypes!], [2, 3, 1, 5, 1, 4, 4, 3]);
  assert.deepEqual([...info.scores!], [0, 0, -1, -2, -3, -1000, -1000, -1000]);
  const smaller = await hfTokenizerInfo({ config: mem("config.json", { vocab_size: 3 }), tokenizerModel: { path: "tokenizer.model", bytes: model } }, { modelType: "llama" });
  assert.deepEqual(smaller.tokens, ["<unk>", "<s>", "▁a"]);
  const padded = await hfTokenizerInfo({ config: mem("config.json", { vocab_size: 7 }), tokenizerModel: { path: "tokenizer.model", bytes: model } }, { modelType: "qwen2" });
  assert.deepEqual([padded.tokens[6], padded.tokenTypes![6], padded.scores![6]], ["[PAD6]", TokenType.Unused, -10000]);
});

test("tokenizer.model: truncated or empty protobuf is refused, naming the file", () => {
  const model = sentencePieceModel([{ piece: "<unk>", score: 0, type: 2 }, { piece: "abc", score: -1, type: 1 }]);
  assert.equal(parseSentencePieceModel(model).length, 2);
  for (const bad of [model.subarray(0, model.length - 3), new Uint8Array(0), new Uint8Array([0x0b])]) {
    assert.throws(() => parseSentencePieceModel(bad, "m/tokenizer.model"), (e: unknown) => e instanceof BitsmithError && e.file === "m/tokenizer.model");
  }
  assert.throws(() => parseSentencePieceModel(new Uint8Array(bytesField(1, bytesField(1, [0xff]))), "t.model"), (e: unknown) => e instanceof BitsmithError && e.field === "pieces[0].piece");
});

// ---- byte-fallback BPE tokenizer.json (LlamaHfVocab) ----

test("a byte-fallback BPE tokenizer.json without tokenizer.model converts as LlamaHfVocab does", { skip }, async () => {
  const meta = await ggufMetadata("ggml-vocab-llama-spm.gguf");
  const tokens = value(meta, "tokenizer.ggml.tokens") as string[];
  const types = value(meta, "tokenizer.ggml.token_type") as Int32Array;
  const tokenizerJson = {
    added_tokens: [0, 1, 2].map((id) => ({ id, content: tokens[id], special: true, normalized: false })).concat([{ id: 32000, content: "<pad>", special: false, normalized: true }]),
    model: { type: "BPE", byte_fallback: true, vocab: Object.fromEntries(tokens.map((t, i) => [t, i])), merges: [] },
    decoder: { type: "Sequence", decoders: [] },
  };
  const info = await hfTokenizerInfo(
    { tokenizerJson: mem("tokenizer.json", tokenizerJson), tokenizerConfig: mem("tokenizer_config.json", { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>", add_prefix_space: false }) },
    { modelType: "llama" },
  );
  assert.deepEqual([info.model, info.pre], ["llama", "default"]);
  assert.deepEqual(info.tokens, [...tokens, "<pad>"]);
  // Byte tokens and normal pieces as llama.cpp typed them from tokenizer.model; <unk> is control here (a special token).
  const expected = Int32Array.from([...types, TokenType.UserDefined]);
  expected[0] = TokenType.Control;
  assert.deepEqual(info.tokenTypes, expected);
  assert.ok(info.scores!.every((s) => s === -1000));
  assert.deepEqual([info.bosId, info.eosId, info.unkId, info.addSpacePrefix], [1, 2, 0, false]);
  assert.equal(info.merges, undefined);
});

// ---- special tokens ----

const LLAMA3_POST_PROCESSOR = {
  type: "Sequence",
  processors: [
    { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
      special_tokens: {},
    },
  ],
};
const named = (p: string, json: Record<string, unknown>) => ({ path: p, json });

test("special tokens: Llama 3's TemplateProcessing adds BOS; config.json fills what tokenizer_config.json leaves", () => {
  const sv = readSpecialVocab({
    tokenizerJson: named("tokenizer.json", { post_processor: LLAMA3_POST_PROCESSOR, added_tokens: [{ id: 128000, content: "<|begin_of_text|>" }, { id: 128009, content: "<|eot_id|>" }] }),
    tokenizerConfig: named("tokenizer_config.json", { bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", chat_template: "{{ messages }}" }),
    config: named("config.json", { bos_token_id: 1, eos_token_id: [128001, 128009], pad_token_id: 128004 }),
  });
  assert.deepEqual([...sv.ids], [["bos", 128000], ["eos", 128009], ["pad", 128004]]);
  // The pair template puts a BOS (neither SEP nor EOS) between the sequences, so llama.cpp records add_sep = false.
  assert.deepEqual([...sv.add], [["bos", true], ["sep", false]]);
  assert.equal(sv.chatTemplate, "{{ messages }}");
});

test("special tokens: a template whose trailing token differs from eos_token makes it EOS and keeps the old one as EOT", () => {
  const template = { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<s>" } }, { Sequence: { id: "A" } }, { SpecialToken: { id: "</s>" } }], pair: [] };
  const sv = readSpecialVocab({
    tokenizerJson: named("tokenizer.json", { post_processor: template, added_tokens: [{ id: 1, content: "<s>" }, { id: 2, content: "</s>" }, { id: 7, content: "<eot>" }] }),
    tokenizerConfig: named("tokenizer_config.json", { bos_token: "<s>", eos_token: "<eot>", add_eos_token: false }),
  });
  assert.deepEqual([...sv.ids], [["bos", 1], ["eos", 2], ["eot", 7]]);
  // tokenizer_config.json's add_eos_token overrides what the template implies.
  assert.deepEqual([...sv.add], [["bos", true], ["eos", false]]);
});

test("special tokens: RobertaProcessing adds BOS, EOS and SEP; out-of-range ids are skipped; negative ids refused", () => {
  const sv = readSpecialVocab({
    tokenizerJson: named("tokenizer.json", { post_processor: { type: "RobertaProcessing", sep: ["</s>", 2], cls: ["<s>", 0] }, added_tokens: [{ id: 0, content: "<s>" }, { id: 2, content: "</s>" }] }),
    tokenizerConfig: named("tokenizer_config.json", { bos_token: "<s>", eos_token: "</s>" }),
    config: named("config.json", { pad_token_id: 50 }),
    nVocab: 10,
  });
  assert.deepEqual([...sv.ids], [["bos", 0], ["eos", 2], ["sep", 2], ["cls", 0]]);
  assert.deepEqual([...sv.add], [["bos", true], ["eos", true], ["sep", true]]);
  assert.throws(() => readSpecialVocab({ config: named("c.json", { pad_token_id: -1 }) }), (e: unknown) => e instanceof BitsmithError && e.file === "c.json" && e.field === "pad_token_id");
});

test("chat template: tokenizer_config.json's, else chat_template.jinja, else chat_template.json; a null entry means none", () => {
  const tc = (o: Record<string, unknown>) => named("tokenizer_config.json", { bos_token: "<s>", ...o });
  const jinja = "{{ jinja }}";
  const json = named("chat_template.json", { chat_template: "{{ json }}" });
  assert.equal(readSpecialVocab({ tokenizerConfig: tc({ chat_template: "{{ tc }}" }), chatTemplateJinja: jinja, chatTemplateJson: json }).chatTemplate, "{{ tc }}");
  assert.equal(readSpecialVocab({ tokenizerConfig: tc({}), chatTemplateJinja: jinja, chatTemplateJson: json }).chatTemplate, jinja);
  assert.equal(readSpecialVocab({ tokenizerConfig: tc({}), chatTemplateJson: json }).chatTemplate, "{{ json }}");
  assert.equal(readSpecialVocab({ tokenizerConfig: tc({ chat_template: null }), chatTemplateJinja: jinja }).chatTemplate, undefined);
  assert.equal(readSpecialVocab({ tokenizerConfig: tc({ chat_template: [{ name: "default", template: "d" }, { name: "tool_use", template: "t" }] }) }).chatTemplate, "d");
  // Without tokenizer_config.json llama.cpp reads no chat template at all.
  assert.equal(readSpecialVocab({ chatTemplateJinja: jinja }).chatTemplate, undefined);
});

test("add_space_prefix comes from tokenizer_config.json for llama and mistral only", { skip }, async () => {
  const tj = readJson(path.join(TINY_GPT2, "tokenizer.json"));
  const files = { tokenizerJson: mem("tokenizer.json", tj), tokenizerConfig: mem("tokenizer_config.json", { add_prefix_space: true }) };
  assert.equal((await hfTokenizerInfo(files, { modelType: "mistral", pre: "gpt-2" })).addSpacePrefix, true);
  assert.equal((await hfTokenizerInfo(files, { modelType: "qwen2", pre: "gpt-2" })).addSpacePrefix, undefined);
});

// ---- errors ----

test("tokenizer errors name the file: malformed JSON, no tokenizer, unsupported model type", async () => {
  await assert.rejects(hfTokenizerInfo({ tokenizerJson: { path: "d/tokenizer.json", text: "{" } }, { modelType: "llama" }), /^BitsmithError: d\/tokenizer\.json: malformed JSON/);
  await assert.rejects(hfTokenizerInfo({ tokenizerConfig: { path: "d/tokenizer_config.json", text: "{]" }, tokenizerJson: mem("t.json", {}) }, { modelType: "llama" }), /d\/tokenizer_config\.json: malformed JSON/);
  await assert.rejects(hfTokenizerInfo({ config: mem("d/config.json", {}) }, { modelType: "llama" }), (e: unknown) => e instanceof BitsmithError && e.file === "d/config.json" && /neither tokenizer\.model nor tokenizer\.json/.test(e.message));
  await assert.rejects(
    hfTokenizerInfo({ tokenizerJson: mem("d/tokenizer.json", { model: { type: "Unigram", vocab: [] } }) }, { modelType: "qwen2" }),
    (e: unknown) => e instanceof BitsmithError && e.file === "d/tokenizer.json" && e.field === "model.type",
  );
  await assert.rejects(
    hfTokenizerInfo({ tokenizerJson: mem("d/tokenizer.json", { model: { type: "BPE", byte_fallback: true, vocab: { a: 0, b: 2 } }, decoder: { type: "Sequence" } }) }, { modelType: "llama" }),
    (e: unknown) => e instanceof BitsmithError && e.field === "model.vocab" && /no token with id 1/.test(e.message),
  );
});
