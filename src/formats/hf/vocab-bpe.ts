/**
 * A byte-level BPE tokenizer.json (GPT-2, Llama 3, Qwen2, Mistral Nemo ...) as llama.cpp's "gpt2" vocabulary:
 * convert_hf_to_gguf.py's get_vocab_base (tokens in id order, added tokens typed control or user-defined, unused
 * ids padded up to config.json's vocab_size), its merges (SpecialVocab with load_merges) and the pre-tokenizer name.
 */
import { BitsmithError, TokenType } from "../../core/index.js";
import type { Tokenizer } from "@huggingface/tokenizers";
import { isJsonObject } from "./json-file.js";
import type { JsonObject } from "./json-file.js";

/** llama.cpp's does_token_look_special: added tokens some models forget to mark special. */
export function looksSpecial(token: string): boolean {
  return (
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(token) ||
    (token.startsWith("<|") && token.endsWith("|>")) ||
    (token.startsWith("<\uff5c") && token.endsWith("\uff5c>")) ||
    (token.startsWith("<unused") && token.endsWith(">"))
  );
}

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  normalized: boolean;
}

/** tokenizer.json's added_tokens, validated. */
export function addedTokensOf(tokenizerJson: JsonObject, file: string): AddedToken[] {
  const list = tokenizerJson.added_tokens ?? [];
  if (!Array.isArray(list)) throw new BitsmithError("must be a list", { file, field: "added_tokens" });
  return list.map((t, i) => {
    const field = `added_tokens[${i}]`;
    if (!isJsonObject(t) || typeof t.content !== "string" || typeof t.id !== "number" || !Number.isSafeInteger(t.id) || t.id < 0) {
      throw new BitsmithError("must have a string content and a token id", { file, field });
    }
    const special = t.special === true;
    // An AddedToken that does not say is normalized unless it is special (transformers' default).
    return { id: t.id, content: t.content, special, normalized: typeof t.normalized === "boolean" ? t.normalized : !special };
  });
}

/** model.vocab of a tokenizer.json: content -> id. */
export function modelVocabOf(tokenizerJson: JsonObject, file: string): Map<string, number> {
  const model = tokenizerJson.model;
  if (!isJsonObject(model) || !isJsonObject(model.vocab)) throw new BitsmithError("has no vocabulary object", { file, field: "model.vocab" });
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(model.vocab)) {
    if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
      throw new BitsmithError(`id of ${JSON.stringify(token)} must be a token id, got ${JSON.stringify(id)}`, { file, field: "model.vocab" });
    }
    vocab.set(token, id);
  }
  return vocab;
}

/**
 * model.merges as GGUF stores them, "left right". The list-of-pairs form (transformers >= 4.45) can hold spaces
 * inside a part; like llama.cpp they are written as U+0120, the byte-level alphabet's space.
 */
export function mergesOf(tokenizerJson: JsonObject, file: string): string[] {
  const model = tokenizerJson.model;
  const merges = isJsonObject(model) ? model.merges : undefined;
  if (!Array.isArray(merges) || merges.length === 0) return [];
  if (merges.every((m) => typeof m === "string")) return merges as string[];
  return merges.map((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((p) => typeof p === "string")) {
      throw new BitsmithError("unknown merges format: expected strings or pairs of strings", { file, field: `model.merges[${i}]` });
    }
    return (pair as string[]).map((part) => part.replaceAll(" ", "\u0120")).join(" ");
  });
}

/** merges.txt (slow GPT-2 tokenizers): an optional "#version" line, then "left right" lines; others are skipped. */
export function parseMergesTxt(text: string): string[] {
  const lines = text.split("\n");
  if (lines[0]!.trim().startsWith("#")) lines.shift();
  const merges: string[] = [];
  for (const line of lines) {
    const parts = line.trim().split(/\s+/).filter((p) => p !== "");
    if (parts.length === 2) merges.push(`${parts[0]} ${parts[1]}`);
  }
  return merges;
}

export interface BpeVocab {
  tokens: string[];
  tokenTypes: Int32Array;
}

/**
 * get_vocab_base: ids 0 .. vocabSize-1 (config.json's vocab_size, else the tokenizer's), where an id without a token
 * becomes "[PAD<id>]" (unused), an added token is control when special or special-looking and user-defined
 * otherwise (with U+2581 turned back into spaces), and everything else is normal. An added token that is not
 * normalized is first passed through encode/decode, as llama.cpp does with transformers.
 */
export function bpeVocab(tokenizerJson: JsonObject, tokenizer: Tokenizer, vocabSize: number | undefined, file: string): BpeVocab {
  // transformers' get_vocab(): the model's vocabulary, then the added tokens over it.
  const vocab = modelVocabOf(tokenizerJson, file);
  const added = new Map(addedTokensOf(tokenizerJson, file).map((t) => [t.content, t]));
  for (const t of added.values()) vocab.set(t.content, t.id);
  const size = vocabSize ?? vocab.size;
  const byId = new Map<number, string>();
  for (const [token, id] of vocab) {
    if (id >= size) throw new BitsmithError(`token ${JSON.stringify(token)} has id ${id}, beyond vocab_size ${size}`, { file, field: "model.vocab" });
    byId.set(id, token);
  }

  const tokens: string[] = [];
  const tokenTypes = new Int32Array(size);
  for (let id = 0; id < size; id++) {
    const stored = byId.get(id);
    let token = stored ?? `[PAD${id}]`;
    let type = stored === undefined ? TokenType.Unused : TokenType.Normal;
    if (stored !== undefined) {
      const a = added.get(stored);
      if (a) {
        if (!a.normalized) token = tokenizer.decode(tokenizer.encode(token, { add_special_tokens: false }).ids);
        if (a.special || looksSpecial(token)) type = TokenType.Control;
        else {
          token = token.replaceAll("\u2581", " ");
          type = TokenType.UserDefined;
        }
      }
    }
    tokens.push(token);
    tokenTypes[id] = type;
  }
  return { tokens, tokenTypes };
}
