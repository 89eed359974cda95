/**
 * llama.cpp's merge rules on small vocabularies whose results follow by hand from llm_tokenizer_spm_session and
 * llm_tokenizer_bpe_session: the queue order (SPM: highest score, then leftmost; BPE: lowest rank, then leftmost),
 * merging across word starts when a token allows it, byte fallback, ignore_merges; and the errors on bad input.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError, TokenType } from "../../src/core/index.js";
import type { TokenizerInfo } from "../../src/core/index.js";
import { createTokenizer } from "../../src/tokenizer/index.js";

const N = TokenType.Normal;
const C = TokenType.Control;

function spm(pieces: [string, number][], extra: Partial<TokenizerInfo> = {}): TokenizerInfo {
  const all: [string, number, TokenType][] = [["<unk>", 0, TokenType.Unknown], ["<s>", 0, C], ["</s>", 0, C], ...pieces.map(([p, s]): [string, number, TokenType] => [p, s, p.startsWith("<0x") ? TokenType.Byte : N])];
  return {
    model: "llama",
    tokens: all.map((t) => t[0]),
    scores: Float32Array.from(all.map((t) => t[1])),
    tokenTypes: Int32Array.from(all.map((t) => t[2])),
    ...extra,
  };
}

test("SPM: of two candidate merges with equal scores the leftmost wins, else the higher score", () => {
  const noPrefix = { addSpacePrefix: false };
  const equal = createTokenizer(spm([["a", -1], ["b", -1], ["c", -1], ["ab", -2], ["bc", -2]], noPrefix));
  assert.deepEqual(equal.encode("abc", { addSpecial: false }), [6, 5]); // ab c
  const rightBetter = createTokenizer(spm([["a", -1], ["b", -1], ["c", -1], ["ab", -2], ["bc", -1.5]], noPrefix));
  assert.deepEqual(rightBetter.encode("abc", { addSpecial: false }), [3, 7]); // a bc
});

test("SPM: a token ending in U+2581 merges across a word start, as in llama.cpp's single merge loop", () => {
  // "a a" -> "▁a▁a": "a▁" (-0.2) beats both "▁a" (-0.5); afterwards no pair is a token.
  const tok = createTokenizer(spm([["\u2581", -1], ["a", -1], ["\u2581a", -0.5], ["a\u2581", -0.2]]));
  assert.deepEqual(tok.encode("a a", { addSpecial: false }), [3, 6, 4]);
  // Without that token, each word merges on its own.
  const plain = createTokenizer(spm([["\u2581", -1], ["a", -1], ["\u2581a", -0.5]]));
  assert.deepEqual(plain.encode("a a", { addSpecial: false }), [5, 5]);
});

test("SPM: characters that are not tokens fall back to <0xXX> byte tokens; a missing byte token is an error", () => {
  const tok = createTokenizer(spm([["\u2581", -1], ["<0xC3>", 0], ["<0xA9>", 0]]));
  assert.deepEqual(tok.encode("é", { addSpecial: false }), [3, 4, 5]);
  assert.equal(tok.decode([3, 4, 5]), "é");
  assert.equal(tok.decode([4]), "\ufffd"); // half a character
  assert.throws(() => tok.encode("ü", { addSpecial: false }), BitsmithError);
});

function bpe(tokens: string[], merges: string[], extra: Partial<TokenizerInfo> = {}): TokenizerInfo {
  return { model: "gpt2", pre: "gpt-2", tokens, merges, tokenTypes: Int32Array.from(tokens.map((t) => (t.startsWith("<|") ? C : N))), ...extra };
}

test("BPE: equal ranks merge leftmost first; a pair is merged only when its merge exists", () => {
  const tok = createTokenizer(bpe(["a", "aa"], ["a a"]));
  assert.deepEqual(tok.encode("aaa"), [1, 0]); // aa a, not a aa
  assert.deepEqual(tok.encode("aaaa"), [1, 1]);
  assert.equal(tok.addBos, false);
  assert.equal(tok.bosId, undefined); // llama.cpp's default BOS id 11 is outside this vocabulary
});

test("BPE: ignore_merges (Llama 3) emits a whole word that is a token without merging", () => {
  const tokens = ["a", "b", "ab", "<|begin_of_text|>"];
  assert.deepEqual(createTokenizer(bpe(tokens, [])).encode("ab"), [0, 1]);
  const llama3 = createTokenizer(bpe(tokens, [], { pre: "llama-bpe", bosId: 3 }));
  assert.equal(llama3.addBos, true); // the llama-bpe default
  assert.deepEqual(llama3.encode("ab"), [3, 2]);
  assert.deepEqual(llama3.encode("<|begin_of_text|>ab", { addSpecial: false, parseSpecial: true }), [3, 2]);
});

test("invalid vocabularies and ids are BitsmithErrors naming the field", () => {
  const fails = (info: TokenizerInfo, field: string) =>
    assert.throws(() => createTokenizer(info, { file: "x.gguf" }), (e: unknown) => e instanceof BitsmithError && e.field === field && e.file === "x.gguf");
  fails({ ...bpe(["a"], []), model: "bert" }, "tokenizer.ggml.model");
  fails(bpe(["a"], [], { pre: "no-such-pre" }), "tokenizer.ggml.pre");
  fails({ ...bpe(["a"], []), merges: undefined }, "tokenizer.ggml.merges");
  fails(spm([["a", -1], ["a", -2]]), "tokenizer.ggml.tokens");
  fails(bpe(["a"], [], { addBos: true }), "tokenizer.ggml.bos_token_id");
  fails(spm([["a", -1]], { scores: new Float32Array(2) }), "tokenizer.ggml.scores");
  const tok = createTokenizer(spm([["a", -1]]));
  assert.throws(() => tok.decode([4]), BitsmithError);
  assert.throws(() => tok.tokenToPiece(-1), BitsmithError);
});
