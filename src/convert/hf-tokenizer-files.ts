/**
 * A llama.cpp vocabulary (TokenizerInfo) written back as Hugging Face tokenizer files, the inverse of what
 * convert_hf_to_gguf.py reads. "llama" (SentencePiece) vocabularies become a byte-fallback BPE whose merges
 * are recovered from the piece scores, the way transformers' LlamaConverter derives them from a
 * SentencePiece model; "gpt2" vocabularies become a byte-level BPE with their merges.
 */
import { BitsmithError, TokenType } from "../core/index.js";
import type { TokenizerInfo } from "../core/index.js";
import { encodeSentencePieceModel } from "../formats/hf/sentencepiece-writer.js";

const SPACE = "\u2581";

function addedTokens(t: TokenizerInfo): object[] {
  const out: object[] = [];
  t.tokens.forEach((content, id) => {
    const type = t.tokenTypes?.[id];
    if (type === TokenType.Control || type === TokenType.Unknown || type === TokenType.UserDefined) {
      out.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type !== TokenType.UserDefined });
    }
  });
  return out;
}

/**
 * Merges of a SentencePiece BPE vocabulary: every split of a piece into two pieces of the vocabulary, ordered
 * by the merged piece's score (highest first), splits of one piece by the ids of their halves.
 */
export function sentencePieceMerges(t: TokenizerInfo): string[] {
  const ids = new Map(t.tokens.map((p, i) => [p, i]));
  const found: { left: string; right: string; score: number; order: number }[] = [];
  t.tokens.forEach((piece, id) => {
    const type = t.tokenTypes?.[id] ?? TokenType.Normal;
    if (type !== TokenType.Normal && type !== TokenType.UserDefined) return;
    const chars = [...piece];
    const local: { left: string; right: string }[] = [];
    for (let i = 1; i < chars.length; i++) {
      const left = chars.slice(0, i).join("");
      const right = chars.slice(i).join("");
      if (ids.has(left) && ids.has(right)) local.push({ left, right });
    }
    local.sort((a, b) => ids.get(a.left)! - ids.get(b.left)! || ids.get(a.right)! - ids.get(b.right)!);
    for (const m of local) found.push({ ...m, score: t.scores?.[id] ?? -id, order: found.length });
  });
  found.sort((a, b) => b.score - a.score || a.order - b.order);
  return found.map((m) => `${m.left} ${m.right}`);
}

function tokenAt(t: TokenizerInfo, id: number | undefined): string | null {
  return id === undefined || id < 0 || id >= t.tokens.length ? null : t.tokens[id]!;
}

function llamaTokenizerJson(t: TokenizerInfo): object {
  const addPrefix = t.addSpacePrefix ?? true;
  const normalizers: object[] = [];
  if (addPrefix) normalizers.push({ type: "Prepend", prepend: SPACE });
  normalizers.push({ type: "Replace", pattern: { String: " " }, content: SPACE });
  const decoders: object[] = [{ type: "Replace", pattern: { String: SPACE }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" }];
  if (addPrefix) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
  const bos = tokenAt(t, t.bosId);
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens(t),
    normalizer: { type: "Sequence", normalizers },
    pre_tokenizer: null,
    post_processor:
      (t.addBos ?? true) && bos !== null
        ? {
            type: "TemplateProcessing",
            single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
            pair: [
              { SpecialToken: { id: bos, type_id: 0 } },
              { Sequence: { id: "A", type_id: 0 } },
              { SpecialToken: { id: bos, type_id: 1 } },
              { Sequence: { id: "B", type_id: 1 } },
            ],
            special_tokens: { [bos]: { id: bos, ids: [t.bosId], tokens: [bos] } },
          }
        : null,
    decoder: { type: "Sequence", decoders },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: tokenAt(t, t.unkId),
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab: Object.fromEntries(t.tokens.map((p, i) => [p, i])),
      merges: sentencePieceMerges(t),
    },
  };
}

/** GPT-2's pre-tokenizer split and the Llama 3 one; other pre-tokenizers fall back to GPT-2's. */
const BPE_SPLIT_PATTERNS: Record<string, string> = {
  "llama-bpe": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

function gpt2TokenizerJson(t: TokenizerInfo): object {
  if (!t.merges) throw new BitsmithError("a gpt2 vocabulary without merges cannot be written as tokenizer.json", { field: "tokenizer.ggml.merges" });
  const pattern = t.pre ? BPE_SPLIT_PATTERNS[t.pre] : undefined;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: pattern === undefined };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens(t),
    normalizer: null,
    pre_tokenizer:
      pattern === undefined
        ? byteLevel
        : { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false }, byteLevel] },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: Object.fromEntries(t.tokens.map((p, i) => [p, i])),
      merges: t.merges,
    },
  };
}

/**
 * A SentencePiece vocabulary as tokenizer.model: the only HF file that keeps piece scores, which llama.cpp's
 * tokenizer merges by. Token types share SentencePiece's numbering (1 normal ... 6 byte).
 */
function sentencePieceModelFile(t: TokenizerInfo): Uint8Array {
  const id = (v: number | undefined) => (v === undefined || v >= t.tokens.length ? -1 : v);
  return encodeSentencePieceModel(
    t.tokens.map((piece, i) => ({ piece, score: t.scores?.[i] ?? 0, type: t.tokenTypes?.[i] || TokenType.Normal })),
    { unkId: id(t.unkId), bosId: id(t.bosId), eosId: id(t.eosId), padId: id(t.padId), addDummyPrefix: t.addSpacePrefix ?? true, byteFallback: true },
  );
}

/** tokenizer.json and tokenizer_config.json for a vocabulary, and tokenizer.model for a SentencePiece one. */
export function hfTokenizerFiles(t: TokenizerInfo): Record<string, string | Uint8Array> {
  let json: object;
  if (t.model === "llama") json = llamaTokenizerJson(t);
  else if (t.model === "gpt2") json = gpt2TokenizerJson(t);
  else throw new BitsmithError(`writing a "${t.model}" vocabulary as tokenizer.json is not supported (llama and gpt2 are)`, { field: "tokenizer.ggml.model" });
  const config: Record<string, unknown> = {
    add_bos_token: t.addBos ?? t.model === "llama",
    add_eos_token: t.addEos ?? false,
    bos_token: tokenAt(t, t.bosId),
    eos_token: tokenAt(t, t.eosId),
    unk_token: tokenAt(t, t.unkId),
    pad_token: tokenAt(t, t.padId),
    clean_up_tokenization_spaces: false,
    tokenizer_class: t.model === "llama" ? "LlamaTokenizer" : "PreTrainedTokenizerFast",
  };
  if (t.chatTemplate !== undefined) config.chat_template = t.chatTemplate;
  const files: Record<string, string | Uint8Array> = {
    "tokenizer.json": JSON.stringify(json, null, 2),
    "tokenizer_config.json": JSON.stringify(config, null, 2),
  };
  if (t.model === "llama") files["tokenizer.model"] = sentencePieceModelFile(t);
  return files;
}
