/**
 * createHfTokenizer (Hugging Face's pipeline) against llama.cpp: the onnxruntime-genai GPT-2 tokenizer.json has
 * exactly the vocabulary and merges of llama.cpp's ggml-vocab-gpt-2.gguf (checked here), so it must reproduce
 * llama.cpp's test vectors; the tiny-random GPT-2 vocabulary must give the same ids through both tokenizers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { TokenType } from "../../src/core/index.js";
import type { TokenizerInfo } from "../../src/core/index.js";
import { createHfTokenizer, createModelTokenizer, createTokenizer } from "../../src/tokenizer/index.js";
import { FIXTURES, REFERENCE, hasSharedData } from "../helpers/paths.js";
import { loadModelInfo, readTokenizerVectors, VOCAB_DIR } from "./helpers.js";

const skip = !hasSharedData && "shared data not found";
const GPT2_GGUF = path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf");

interface HfJson {
  added_tokens: { id: number; content: string; special: boolean }[];
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
}
const readJson = (dir: string, file: string) => JSON.parse(readFileSync(path.join(FIXTURES, dir, file), "utf8"));
const ONNX = "onnxruntime-genai-tiny-random-gpt2-fp32";
const TINY = "hf-tiny-random-gpt2-safetensors";

const mergeStrings = (j: HfJson) => j.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));

test("the onnxruntime-genai GPT-2 tokenizer.json has ggml-vocab-gpt-2's vocabulary and merges", { skip }, async () => {
  const info = (await loadModelInfo(GPT2_GGUF)).tokenizer!;
  const j: HfJson = readJson(ONNX, "tokenizer.json");
  assert.equal(Object.keys(j.model.vocab).length, info.tokens.length);
  for (const [text, id] of Object.entries(j.model.vocab)) assert.equal(info.tokens[id], text);
  assert.deepEqual(mergeStrings(j), info.merges);
});

test("Hugging Face GPT-2 tokenizer reproduces llama.cpp's GPT-2 test vectors", { skip }, () => {
  const j: HfJson = readJson(ONNX, "tokenizer.json");
  // The file adds tokens for runs of 2-31 spaces and 2-9 tabs (ids 50257..); GPT-2 itself has none.
  const gpt2 = { ...j, added_tokens: j.added_tokens.filter((t) => t.id < 50257) };
  const hf = createHfTokenizer(gpt2, readJson(ONNX, "tokenizer_config.json"));
  for (const { input, ids } of readTokenizerVectors(GPT2_GGUF)) assert.deepEqual(hf.encode(input, { addSpecial: false }), ids, JSON.stringify(input));
  assert.deepEqual([hf.vocabSize, hf.bosId, hf.eosId, hf.addBos, hf.addEos], [50257, 50256, 50256, false, false]);
  assert.equal(hf.isEog(50256), true);
});

test("with its whitespace tokens, the same tokenizer.json still agrees where there are no runs of blanks", { skip }, async () => {
  const hf = createHfTokenizer(readJson(ONNX, "tokenizer.json"), readJson(ONNX, "tokenizer_config.json"));
  const ll = createModelTokenizer(await loadModelInfo(GPT2_GGUF));
  let compared = 0;
  for (const { input, ids } of readTokenizerVectors(GPT2_GGUF)) {
    if (/[ \t]{2}/.test(input)) continue;
    assert.deepEqual(hf.encode(input), ids, JSON.stringify(input));
    assert.deepEqual(ll.encode(input), ids);
    compared++;
  }
  assert.ok(compared > 30);
  assert.equal(hf.vocabSize, 50295);
  assert.deepEqual(hf.encode("a  b"), [64, 50286, 65]);
});

/** The tokenizer.json's vocabulary in llama.cpp's terms, as a GGUF converter would store it. */
function tinyInfo(j: HfJson): TokenizerInfo {
  const tokens: string[] = [];
  for (const [text, id] of Object.entries(j.model.vocab)) tokens[id] = text;
  const types = new Int32Array(tokens.length).fill(TokenType.Normal);
  for (const t of j.added_tokens) types[t.id] = t.special ? TokenType.Control : TokenType.UserDefined;
  return { model: "gpt2", pre: "gpt-2", tokens, tokenTypes: types, merges: mergeStrings(j), bosId: 0, eosId: 0 };
}

test("tiny-random GPT-2: Hugging Face and the llama.cpp tokenizer give the same ids and text", { skip }, () => {
  const j: HfJson = readJson(TINY, "tokenizer.json");
  const hf = createHfTokenizer(j, readJson(TINY, "tokenizer_config.json"));
  const ll = createTokenizer(tinyInfo(j));
  assert.equal(hf.vocabSize, 1000);
  assert.equal(ll.vocabSize, 1000);
  const story = readFileSync(path.join(REFERENCE, "text/tinystories-niklas6.txt"), "utf8");
  const inputs = [...readTokenizerVectors(GPT2_GGUF).map((v) => v.input), story.slice(0, 20000), story.slice(43000, 46000)];
  for (const input of inputs) {
    for (const parseSpecial of [false, true]) {
      const ids = ll.encode(input, { parseSpecial });
      assert.deepEqual(hf.encode(input, { parseSpecial }), ids, JSON.stringify(input.slice(0, 50)));
      assert.equal(hf.decode(ids, { unparseSpecial: false }), ll.decode(ids, { unparseSpecial: false }));
    }
  }
  const withSpecial = "Hello<|endoftext|>world";
  assert.deepEqual(hf.encode(withSpecial, { parseSpecial: true }), [...hf.encode("Hello"), 0, ...hf.encode("world")]);
  assert.ok(hf.encode(withSpecial).length > 3);
  assert.equal(hf.decode(hf.encode(withSpecial, { parseSpecial: true })), withSpecial);
  assert.equal(hf.decode(hf.encode(withSpecial, { parseSpecial: true }), { unparseSpecial: false }), "Helloworld");
  assert.equal(hf.tokenToPiece(0), "<|endoftext|>");
  assert.equal(hf.tokenToPiece(0, { special: false }), "");
  assert.deepEqual([hf.bosId, hf.eosId, hf.isEog(0), hf.isEog(1)], [0, 0, true, false]);
});
