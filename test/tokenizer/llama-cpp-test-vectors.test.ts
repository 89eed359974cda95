/**
 * llama.cpp's own tokenizer test vectors (tests/test-tokenizer-0: inputs and the ids llama.cpp produces, without
 * BOS) for its SentencePiece (Llama, Phi-3) and GPT-2 test vocabularies, and the Llama 2 vocabulary of the ollama
 * fixture, which is the same vocabulary as ggml-vocab-llama-spm.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { createModelTokenizer } from "../../src/tokenizer/index.js";
import type { Tokenizer } from "../../src/tokenizer/index.js";
import { FIXTURES, hasSharedData } from "../helpers/paths.js";
import { loadModelInfo, readTokenizerVectors, VOCAB_DIR } from "./helpers.js";

const skip = !hasSharedData && "shared data not found";

function mismatches(tok: Tokenizer, vocabFile: string): string[] {
  return readTokenizerVectors(vocabFile)
    .map(({ input, ids }) => ({ input, ids, got: tok.encode(input, { addSpecial: false }) }))
    .filter(({ ids, got }) => ids.join(" ") !== got.join(" "))
    .map(({ input, ids, got }) => `${JSON.stringify(input)}: expected ${ids.join(" ")}, got ${got.join(" ")}`);
}

for (const name of ["llama-spm", "phi-3", "gpt-2"]) {
  const file = path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);

  test(`${name}: every test-tokenizer-0 vector matches llama.cpp`, { skip }, async () => {
    const tok = createModelTokenizer(await loadModelInfo(file), file);
    assert.equal(readTokenizerVectors(file).length, 46);
    assert.deepEqual(mismatches(tok, file), []);
  });
}

test("SentencePiece: decode(encode(text)) gives the text back for every test input", { skip }, async () => {
  for (const name of ["llama-spm", "phi-3"]) {
    const file = path.join(VOCAB_DIR, `ggml-vocab-${name}.gguf`);
    const tok = createModelTokenizer(await loadModelInfo(file), file);
    for (const { input } of readTokenizerVectors(file)) {
      assert.equal(tok.decode(tok.encode(input, { addSpecial: false })), input, `${name}: ${JSON.stringify(input)}`);
    }
  }
});

test("GPT-2: decode gives the text back except where llama.cpp's clean_spaces removes a space", { skip }, async () => {
  const file = path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf");
  const tok = createModelTokenizer(await loadModelInfo(file), file);
  let checked = 0;
  for (const { input, ids } of readTokenizerVectors(file)) {
    const decoded = tok.decode(ids);
    if (/ '/.test(input)) continue; // contractions: covered by the llama.cpp vectors in llama-cpp-vectors/
    if (/ [?!.,]/.test(input)) {
      assert.equal(decoded, input.replace(/ ([?!.,])/g, "$1"), JSON.stringify(input));
    } else {
      assert.equal(decoded, input, JSON.stringify(input));
      checked++;
    }
  }
  assert.ok(checked > 40);
});

test("ollama llama-2-tiny-random: its Llama 2 vocabulary gives llama-spm's vector ids", { skip }, async () => {
  const file = path.join(FIXTURES, "ollama-llama-2-tiny-random/llama-2-tiny-random.gguf");
  const tok = createModelTokenizer(await loadModelInfo(file), file);
  assert.deepEqual(mismatches(tok, path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf")), []);
  // No add_bos_token key: SentencePiece defaults to adding BOS (id 1), not EOS.
  assert.deepEqual(tok.encode("Hello world"), [1, 15043, 3186]);
  assert.equal(tok.isEog(2), true);
});
