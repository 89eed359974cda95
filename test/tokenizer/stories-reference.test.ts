/**
 * The stories260K vocabulary (512 SentencePiece tokens, byte fallback) against llama.cpp's reference outputs:
 * llama-tokenize of the first 2000 characters, the token sequence llama-perplexity evaluates, and the pieces and
 * detokenized text of the logits reference (reference/README.md sections 2-4).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { createModelTokenizer } from "../../src/tokenizer/index.js";
import type { Tokenizer } from "../../src/tokenizer/index.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";
import { loadModelInfo } from "./helpers.js";

const skip = !hasSharedData && "shared data not found";
const MODEL = path.join(REFERENCE, "models/stories260K-f32.gguf");
const json = (file: string) => JSON.parse(readFileSync(path.join(REFERENCE, file), "utf8"));
const stories = async (): Promise<Tokenizer> => createModelTokenizer(await loadModelInfo(MODEL), MODEL);

test("llama-tokenize: the first 2000 characters give llama.cpp's 977 tokens, BOS first", { skip }, async () => {
  const ref = json("tokenizer/ts-head20k.first2000.json");
  const tok = await stories();
  assert.equal(ref.text, readFileSync(path.join(REFERENCE, "tokenizer/ts-head20k.first2000.txt"), "utf8"));
  assert.deepEqual(tok.encode(ref.text), ref.tokens);
  assert.equal(ref.tokens.length, 977);
});

test("llama-perplexity: the whole text minus one trailing newline gives its 9718 tokens", { skip }, async () => {
  const ref = json("perplexity/ts-head20k.tokens.json");
  const text = readFileSync(path.join(REFERENCE, "text/ts-head20k.txt"), "utf8");
  assert.ok(text.endsWith("\n"));
  const tok = await stories();
  assert.deepEqual(tok.encode(text.slice(0, -1), { addSpecial: true, parseSpecial: false }), ref.tokens);
  assert.equal(ref.tokens.length, 9718);
});

test("logits reference: token pieces and the detokenized text are llama.cpp's", { skip }, async () => {
  const ref = json("logits/ts-head20k.f32.tokens.json");
  const tok = await stories();
  assert.deepEqual(
    ref.tokens.map((id: number) => tok.tokenToPiece(id)),
    ref.pieces,
  );
  // BOS renders as nothing without unparse_special, and the prefix space stays after it.
  assert.equal(tok.decode(ref.tokens, { unparseSpecial: false }), ref.decoded_text_of_tokens);
  assert.equal(tok.decode(ref.tokens, { removeSpecial: true }), ref.decoded_text_of_tokens);
  assert.ok(tok.decode(ref.tokens).startsWith("<s> One day,"));
});

test("stories260K: BOS/EOS rules of llama_tokenize and the end-of-generation tokens", { skip }, async () => {
  const tok = await stories();
  assert.equal(tok.vocabSize, 512);
  assert.deepEqual([tok.bosId, tok.eosId, tok.addBos, tok.addEos], [1, 2, true, false]);
  // sep and pad are stored as LLAMA_TOKEN_NULL (0xFFFFFFFF): no pad token.
  assert.equal(tok.padId, undefined);
  assert.deepEqual(tok.encode(""), [1]);
  assert.deepEqual(tok.encode("", { addSpecial: false }), []);
  // Control-token text is plain text unless parse_special; then it is the token, and the next text gets a space.
  assert.deepEqual(tok.encode("</s>", { addSpecial: false, parseSpecial: true }), [2]);
  assert.notDeepEqual(tok.encode("</s>", { addSpecial: false }), [2]);
  assert.deepEqual(tok.encode("<s>One", { parseSpecial: true }), [1, 1, ...tok.encode("One", { addSpecial: false })]);
  assert.equal(tok.isEog(2), true);
  assert.equal(tok.isEog(1), false);
});

test("stories260K: round trips through byte fallback, with and without BOS", { skip }, async () => {
  const tok = await stories();
  for (const text of ["Once upon a time", "  two  spaces ", "Zoë's café — naïve 🦙 日本語\n\ttab", "\u0000\u007f", "a\r\nb"]) {
    assert.equal(tok.decode(tok.encode(text, { addSpecial: false })), text, JSON.stringify(text));
    // After a BOS, llama.cpp does not strip the prefix space (its detokenize strips it only from a first token).
    assert.equal(tok.decode(tok.encode(text), { unparseSpecial: false }), " " + text, JSON.stringify(text));
  }
  const story = readFileSync(path.join(REFERENCE, "text/tinystories-niklas6.txt"), "utf8");
  assert.equal(tok.decode(tok.encode(story, { addSpecial: false })), story);
});
