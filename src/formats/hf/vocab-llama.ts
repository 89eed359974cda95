/**
 * SentencePiece-style vocabularies as llama.cpp's "llama" tokenizer model: from tokenizer.model
 * (convert_hf_to_gguf.py's _create_vocab_sentencepiece) or, without it, from a byte-fallback BPE tokenizer.json
 * (gguf-py's LlamaHfVocab).
 */
import { BitsmithError, TokenType } from "../../core/index.js";
import { SentencePieceType } from "./sentencepiece-model.js";
import type { SentencePiece } from "./sentencepiece-model.js";
import { isJsonObject } from "./json-file.js";
import type { JsonObject } from "./json-file.js";
import type { NamedJson } from "./special-vocab.js";
import { addedTokensOf, looksSpecial, modelVocabOf } from "./vocab-bpe.js";

export interface LlamaVocab {
  tokens: string[];
  scores: Float32Array;
  tokenTypes: Int32Array;
}

/** Scores llama.cpp gives tokens that have none of their own. */
const ADDED_TOKEN_SCORE = -1000;
const PAD_TOKEN_SCORE = -10000;

function spTokenType(type: SentencePieceType): TokenType {
  switch (type) {
    case SentencePieceType.Unknown:
      return TokenType.Unknown;
    case SentencePieceType.Control:
      return TokenType.Control;
    case SentencePieceType.Unused:
      return TokenType.Unused;
    case SentencePieceType.Byte:
      return TokenType.Byte;
    default:
      // llama.cpp does not ask SentencePiece about user-defined pieces: they come out normal.
      return TokenType.Normal;
  }
}

/**
 * _create_vocab_sentencepiece: `vocabSize` slots (config.json's vocab_size, else the model's piece count) start as
 * "[PAD<id>]" (unused, score -10000); pieces fill them in id order; added_tokens.json entries become user-defined
 * and tokenizer_config.json's added_tokens_decoder entries control (special or special-looking) or user-defined,
 * both with score -1000. Ids at or beyond vocabSize are dropped, as llama.cpp does with a warning.
 */
export function sentencePieceVocab(
  pieces: readonly SentencePiece[],
  vocabSize: number | undefined,
  addedTokensJson: NamedJson | undefined,
  tokenizerConfig: NamedJson | undefined,
): LlamaVocab {
  const size = vocabSize || pieces.length;
  const tokens = Array.from({ length: size }, (_, i) => `[PAD${i}]`);
  const scores = new Float32Array(size).fill(PAD_TOKEN_SCORE);
  const tokenTypes = new Int32Array(size).fill(TokenType.Unused);
  for (const [id, p] of pieces.entries()) {
    if (id >= size) break;
    tokens[id] = p.piece;
    scores[id] = p.score;
    tokenTypes[id] = spTokenType(p.type);
  }
  const checkId = (id: unknown, file: string, field: string): id is number => {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) throw new BitsmithError(`must be a token id, got ${JSON.stringify(id)}`, { file, field });
    return id < size;
  };
  if (addedTokensJson) {
    for (const [token, id] of Object.entries(addedTokensJson.json)) {
      if (!checkId(id, addedTokensJson.path, token)) continue;
      tokens[id] = token;
      scores[id] = ADDED_TOKEN_SCORE;
      tokenTypes[id] = TokenType.UserDefined;
    }
  }
  const decoder = tokenizerConfig?.json.added_tokens_decoder;
  if (isJsonObject(decoder)) {
    for (const [key, data] of Object.entries(decoder)) {
      const field = `added_tokens_decoder.${key}`;
      const id = Number(key);
      if (!checkId(id, tokenizerConfig!.path, field)) continue;
      if (!isJsonObject(data) || typeof data.content !== "string") throw new BitsmithError("must have a string content", { file: tokenizerConfig!.path, field });
      let token = data.content;
      if (data.special === true || looksSpecial(token)) tokenTypes[id] = TokenType.Control;
      else {
        token = token.replaceAll("\u2581", " ");
        tokenTypes[id] = TokenType.UserDefined;
      }
      tokens[id] = token;
      scores[id] = ADDED_TOKEN_SCORE;
    }
  }
  return { tokens, scores, tokenTypes };
}

/** A byte-fallback BPE tokenizer.json whose decoder is a Sequence: what LlamaHfVocab accepts. */
export function isLlamaHfTokenizer(tokenizerJson: JsonObject): boolean {
  const model = tokenizerJson.model;
  const decoder = tokenizerJson.decoder;
  return isJsonObject(model) && model.type === "BPE" && model.byte_fallback === true && isJsonObject(decoder) && decoder.type === "Sequence";
}

const SPECIAL_TOKEN_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

/** transformers' all_special_tokens: the special token attributes and additional_special_tokens of both files. */
function allSpecialTokens(sources: ReadonlyArray<JsonObject | undefined>): Set<string> {
  const out = new Set<string>();
  const add = (entry: unknown) => {
    const content = isJsonObject(entry) ? entry.content : entry;
    if (typeof content === "string") out.add(content);
  };
  for (const src of sources) {
    if (!src) continue;
    for (const key of SPECIAL_TOKEN_KEYS) add(src[key]);
    if (Array.isArray(src.additional_special_tokens)) src.additional_special_tokens.forEach(add);
  }
  return out;
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;

/**
 * LlamaHfVocab: the model's own ids in order (a byte token <0xNN> is byte, a special token control, others normal),
 * then added tokens beyond them (control when special, else user-defined); every score is -1000. Unlike
 * tokenizer.model there is no padding to config.json's vocab_size.
 */
export function llamaHfVocab(tokenizerJson: NamedJson, tokenizerConfig?: NamedJson, specialTokensMap?: NamedJson): LlamaVocab {
  const file = tokenizerJson.path;
  const base = modelVocabOf(tokenizerJson.json, file);
  const baseSize = base.size;
  const added = addedTokensOf(tokenizerJson.json, file);
  const vocab = new Map(base);
  for (const t of added) vocab.set(t.content, t.id);
  const byId = new Map<number, string>();
  for (const [token, id] of vocab) byId.set(id, token);
  const specials = allSpecialTokens([tokenizerConfig?.json, specialTokensMap?.json]);
  const specialIds = new Set([...specials].map((s) => vocab.get(s)).filter((id) => id !== undefined));

  const extra = added.filter((t) => t.id >= baseSize).sort((a, b) => a.id - b.id);
  const size = baseSize + extra.length;
  const tokens: string[] = [];
  const tokenTypes = new Int32Array(size);
  for (let id = 0; id < baseSize; id++) {
    const token = byId.get(id);
    if (token === undefined) throw new BitsmithError(`has no token with id ${id}, though it holds ${baseSize} tokens`, { file, field: "model.vocab" });
    tokens.push(token);
    tokenTypes[id] = BYTE_TOKEN.test(token) ? TokenType.Byte : specialIds.has(id) ? TokenType.Control : TokenType.Normal;
  }
  for (const [i, t] of extra.entries()) {
    if (t.id !== baseSize + i) {
      throw new BitsmithError(`added token ${JSON.stringify(t.content)} has id ${t.id}; added tokens must follow the vocabulary without gaps (expected ${baseSize + i})`, { file, field: "added_tokens" });
    }
    tokens.push(t.content);
    tokenTypes[t.id] = specials.has(t.content) ? TokenType.Control : TokenType.UserDefined;
  }
  return { tokens, scores: new Float32Array(size).fill(ADDED_TOKEN_SCORE), tokenTypes };
}
