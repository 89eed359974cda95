/**
 * The Tokenizer interface over Hugging Face's own tokenizer pipeline (@huggingface/tokenizers, a JavaScript
 * port of the `tokenizers` crate), for tokenizer.json files whose vocabulary type llama.cpp does not model.
 * Ids are then those of the Hugging Face tokenizer, which llama.cpp's match for the vocabularies both support.
 *
 * Differences to the llama.cpp tokenizers: tokenToPiece is the decoder's output for one token (for
 * SentencePiece-style decoders without the leading space of a first token), and decode applies the
 * tokenizer_config's clean_up_tokenization_spaces.
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { BitsmithError } from "../core/index.js";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";
import { EOG_TEXTS, EOT_TEXTS } from "./vocab.js";

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

interface TokenizerJson {
  added_tokens?: AddedTokenJson[];
}

/** A special-token entry of tokenizer_config.json: the text, or an AddedToken-like object. */
type ConfigToken = string | { content?: string } | null | undefined;

interface TokenizerConfig {
  bos_token?: ConfigToken;
  eos_token?: ConfigToken;
  pad_token?: ConfigToken;
}

/**
 * `tokenizerJson` is the parsed tokenizer.json, `tokenizerConfig` the parsed tokenizer_config.json (special tokens
 * and decoding options; may be empty).
 */
export function createHfTokenizer(tokenizerJson: object, tokenizerConfig: object = {}): Tokenizer {
  const json = tokenizerJson as TokenizerJson;
  const config = tokenizerConfig as TokenizerConfig;
  let full: HfTokenizer;
  let plain: HfTokenizer;
  try {
    full = new HfTokenizer(json, config);
    // llama.cpp's parse_special=false: the text of special added tokens is ordinary text. Hugging Face always
    // matches added tokens, so a second pipeline without the special ones tokenizes such input.
    plain = new HfTokenizer({ ...json, added_tokens: (json.added_tokens ?? []).filter((t) => !t.special) }, config);
  } catch (e) {
    throw new BitsmithError(`cannot build the tokenizer: ${(e as Error).message}`, { file: "tokenizer.json" });
  }

  const vocab = full.get_vocab(true);
  let vocabSize = 0;
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1);
  const idOf = (token: ConfigToken, field: string): number | undefined => {
    const text = typeof token === "string" ? token : (token?.content ?? undefined);
    if (text === undefined) return undefined;
    const id = full.token_to_id(text);
    if (id === undefined) throw new BitsmithError(`${JSON.stringify(text)} is not in the vocabulary`, { file: "tokenizer_config.json", field });
    return id;
  };
  const bosId = idOf(config.bos_token, "bos_token");
  const eosId = idOf(config.eos_token, "eos_token");
  const padId = idOf(config.pad_token, "pad_token");

  // Special tokens by text, as llama.cpp finds them in a GGUF vocabulary.
  const added = json.added_tokens ?? [];
  const eotId = added.find((t) => EOT_TEXTS.includes(t.content))?.id;
  const eog = new Set(added.filter((t) => EOG_TEXTS.includes(t.content)).map((t) => t.id));
  for (const id of [eosId, eotId]) if (id !== undefined) eog.add(id);

  // What the post-processor adds: compare a text encoded with and without special tokens.
  const withSpecial = full.encode("a").ids;
  const withoutSpecial = full.encode("a", { add_special_tokens: false }).ids;
  const addBos = bosId !== undefined && withSpecial[0] === bosId && withoutSpecial[0] !== bosId;
  const addEos = eosId !== undefined && withSpecial.at(-1) === eosId && withoutSpecial.at(-1) !== eosId;

  const checkIds = (ids: readonly number[]) => {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new BitsmithError(`token id ${id} is outside the vocabulary (${vocabSize} tokens)`);
    }
  };

  return {
    vocabSize,
    bosId,
    eosId,
    eotId,
    padId,
    addBos,
    addEos,
    encode: (text: string, { addSpecial = true, parseSpecial = false }: EncodeOptions = {}) =>
      (parseSpecial ? full : plain).encode(text, { add_special_tokens: addSpecial }).ids,
    decode: (ids: readonly number[], { removeSpecial = false, unparseSpecial = true }: DecodeOptions = {}) => {
      checkIds(ids);
      let kept = ids;
      if (removeSpecial && addBos && kept[0] === bosId) kept = kept.slice(1);
      if (removeSpecial && addEos && kept.at(-1) === eosId) kept = kept.slice(0, -1);
      return kept.length === 0 ? "" : full.decode([...kept], { skip_special_tokens: !unparseSpecial });
    },
    tokenToPiece: (id: number, { special = true } = {}) => {
      checkIds([id]);
      return full.decode([id], { skip_special_tokens: !special, clean_up_tokenization_spaces: false });
    },
    isEog: (id: number) => eog.has(id),
  };
}
