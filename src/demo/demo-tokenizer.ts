/**
 * The demo checkpoint's tokenizer: a Llama-2-style SentencePiece BPE in Hugging Face's tokenizer.json form
 * (byte fallback, "▁" for spaces), with pieces built from a fixed English word list. Small, but the same
 * structure real Llama 2 / Mistral tokenizers have, so converters and tokenizers see the real thing.
 */

import { TokenType } from "../core/index.js";
import { encodeSentencePieceModel } from "../formats/hf/sentencepiece-writer.js";

const WORDS = (
  "the a an and of to in is was it he she they we you i that for on with as his her at by from this be " +
  "had have not but are were one all there when up out so what said time day little big girl boy mom dad " +
  "dog cat tree sun happy sad play played friend friends saw went go come home very who can will would " +
  "could like liked loved love wanted want see look looked ran run fun good new old red blue ball park " +
  "once upon named lily tim ben sam toy toys help helped smile smiled"
).split(" ");

const SPACE = "\u2581";

export interface DemoTokenizerFiles {
  "tokenizer.json": string;
  /** The same vocabulary as a SentencePiece model, with scores that make llama.cpp merge in the BPE's order. */
  "tokenizer.model": Uint8Array;
  "tokenizer_config.json": string;
  "special_tokens_map.json": string;
  vocabSize: number;
}

export function buildDemoTokenizer(): DemoTokenizerFiles {
  const vocab = new Map<string, number>();
  const add = (piece: string) => {
    if (!vocab.has(piece)) vocab.set(piece, vocab.size);
  };
  add("<unk>");
  add("<s>");
  add("</s>");
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  add(SPACE);
  for (const c of "abcdefghijklmnopqrstuvwxyz.,!?'") add(c);
  // Each word "▁word" is reached by merging left to right: ▁+w, ▁w+o, ... so every merge result is in the vocab.
  const merges: string[] = [];
  const mergeSet = new Set<string>();
  for (const word of WORDS) {
    let piece = SPACE;
    for (const ch of word) {
      const merged = piece + ch;
      const rule = `${piece} ${ch}`;
      if (!mergeSet.has(rule)) {
        mergeSet.add(rule);
        merges.push(rule);
      }
      add(merged);
      piece = merged;
    }
  }
  const special = (id: number, content: string) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "Prepend", prepend: SPACE },
        { type: "Replace", pattern: { String: " " }, content: SPACE },
      ],
    },
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: SPACE }, content: " " },
        { type: "ByteFallback" },
        { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(vocab),
      merges,
    },
  };
  const config = {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    pad_token: null,
    clean_up_tokenization_spaces: false,
    legacy: false,
    model_max_length: 2048,
    tokenizer_class: "LlamaTokenizer",
    chat_template:
      "{% for message in messages %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + message['content'] + ' [/INST]' }}" +
      "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
  };
  const specialMap = { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" };
  // llama.cpp merges the adjacent pair whose result scores highest; scoring each merged piece by minus the rank
  // of the merge that makes it reproduces the BPE exactly (every piece here is made by one merge).
  const mergeRank = new Map(merges.map((m, i) => [m.replace(" ", ""), i]));
  const pieces = [...vocab.keys()].map((piece, id) => ({
    piece,
    score: -(mergeRank.get(piece) ?? 0),
    type: id === 0 ? TokenType.Unknown : id <= 2 ? TokenType.Control : id <= 258 ? TokenType.Byte : TokenType.Normal,
  }));
  const spModel = encodeSentencePieceModel(pieces, { unkId: 0, bosId: 1, eosId: 2, padId: -1, addDummyPrefix: true, byteFallback: true });
  return {
    "tokenizer.json": JSON.stringify(tokenizer, null, 2),
    "tokenizer.model": spModel,
    "tokenizer_config.json": JSON.stringify(config, null, 2),
    "special_tokens_map.json": JSON.stringify(specialMap, null, 2),
    vocabSize: vocab.size,
  };
}
