/**
 * A TokenizerInfo read the way llama.cpp's llama_vocab::impl::load reads the `tokenizer.ggml.*` keys: the
 * tokenizer type, per-type defaults for the special tokens and flags, token attributes from the token types,
 * and the fix-ups llama.cpp applies by token text and model name (EOT/EOG detection, Phi-3 stripping).
 */
import { BitsmithError, TokenType } from "../core/index.js";
import type { TokenizerInfo } from "../core/index.js";
import { bpePreTokenizer } from "./pre-tokenizers.js";
import type { PreTokenizer } from "./pre-tokenizers.js";
import { utf8Bytes } from "./unicode.js";

// llama_token_attr bits.
export const ATTR_UNKNOWN = 1 << 0;
const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
export const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
export const ATTR_BYTE = 1 << 5;
export const ATTR_LSTRIP = 1 << 7;
export const ATTR_RSTRIP = 1 << 8;

/** llama.cpp's LLAMA_TOKEN_NULL. */
export const NULL_TOKEN = -1;

export interface LlamaVocab {
  /** "spm" for tokenizer.ggml.model "llama" (SentencePiece), "bpe" for "gpt2" (byte-level BPE). */
  readonly type: "spm" | "bpe";
  readonly tokens: readonly string[];
  readonly ids: ReadonlyMap<string, number>;
  readonly scores: Float32Array;
  readonly attrs: Uint16Array;
  /** BPE merge ranks keyed by the merge string "left right". */
  readonly mergeRanks: ReadonlyMap<string, number>;
  /** BPE only. */
  readonly pre?: PreTokenizer;
  /** NULL_TOKEN when the vocabulary has none. */
  readonly bos: number;
  readonly eos: number;
  readonly eot: number;
  readonly pad: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly cleanSpaces: boolean;
  /** Control, user-defined and unknown tokens, longest text first: the order text is searched for them. */
  readonly specialTokens: readonly number[];
  /** Tokens that end generation. */
  readonly eog: ReadonlySet<number>;
}

// Token texts llama.cpp recognises (llama-vocab.cpp); a matching token also becomes a control token.
export const EOT_TEXTS: readonly string[] = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];
const EOM_TEXTS = ["<|eom_id|>"];
const FIM_PRE_TEXTS = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
const FIM_SUF_TEXTS = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
const FIM_MID_TEXTS = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
const FIM_PAD_TEXTS = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_TEXTS = ["<|file_sep|>"];
/** Texts of end-of-generation tokens (llama.cpp's special_eog_ids list). */
export const EOG_TEXTS: readonly string[] = [
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
  "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
];
/** gpt-oss tokens llama.cpp always renders (it makes them user-defined). */
const ALWAYS_RENDERED = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

const ATTR_OF_TYPE: Readonly<Record<number, number>> = {
  [TokenType.Unknown]: ATTR_UNKNOWN,
  [TokenType.Unused]: ATTR_UNUSED,
  [TokenType.Normal]: ATTR_NORMAL,
  [TokenType.Control]: ATTR_CONTROL,
  [TokenType.UserDefined]: ATTR_USER_DEFINED,
  [TokenType.Byte]: ATTR_BYTE,
};

/**
 * `modelName` is general.name: llama.cpp gives Phi-3 vocabularies (name containing "phi-3"/"phi3") right-stripping
 * special tokens by it. `file` names the source in errors.
 */
export function buildVocab(info: TokenizerInfo, modelName?: string, file?: string): LlamaVocab {
  const where = (field: string) => ({ file, field });
  let type: "spm" | "bpe";
  if (info.model === "llama") type = "spm";
  else if (info.model === "gpt2") type = "bpe";
  else throw new BitsmithError(`unsupported tokenizer model "${info.model}" (supported: llama, gpt2)`, where("tokenizer.ggml.model"));

  const n = info.tokens.length;
  if (n === 0) throw new BitsmithError("empty vocabulary", where("tokenizer.ggml.tokens"));
  if (info.scores !== undefined && info.scores.length < n) {
    throw new BitsmithError(`${info.scores.length} scores for ${n} tokens`, where("tokenizer.ggml.scores"));
  }
  if (info.tokenTypes !== undefined && info.tokenTypes.length < n) {
    throw new BitsmithError(`${info.tokenTypes.length} token types for ${n} tokens`, where("tokenizer.ggml.token_type"));
  }

  const tokens: string[] = new Array(n);
  const ids = new Map<string, number>();
  const scores = new Float32Array(n);
  const attrs = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    const text = info.tokens[i] === "" ? `[EMPTY_${i}]` : info.tokens[i];
    const previous = ids.get(text);
    if (previous !== undefined) {
      throw new BitsmithError(`duplicate token ${JSON.stringify(text)} has ids ${previous} and ${i}`, where("tokenizer.ggml.tokens"));
    }
    ids.set(text, i);
    tokens[i] = text;
    scores[i] = info.scores?.[i] ?? 0;
    attrs[i] = info.tokenTypes === undefined ? ATTR_NORMAL : (ATTR_OF_TYPE[info.tokenTypes[i]] ?? 0);
  }

  const pre = type === "bpe" ? bpePreTokenizer(info.pre, file) : undefined;
  const mergeRanks = new Map<string, number>();
  if (type === "bpe") {
    if (info.merges === undefined) throw new BitsmithError("missing: a gpt2 vocabulary needs its merges", where("tokenizer.ggml.merges"));
    info.merges.forEach((merge, rank) => {
      // llama.cpp splits at the first space after the first character and keeps the first rank of a pair.
      if (merge.indexOf(" ", 1) > 0 && !mergeRanks.has(merge)) mergeRanks.set(merge, rank);
    });
  }

  // Special ids: per-type defaults (dropped when out of range), replaced by the file's keys when in range.
  const special = (defaultId: number, given: number | undefined) => {
    const id = defaultId < n ? defaultId : NULL_TOKEN;
    return given !== undefined && given < n ? given : id;
  };
  const bos = special(type === "spm" ? 1 : pre!.noDefaultBos ? NULL_TOKEN : 11, info.bosId);
  const eos = special(type === "spm" ? 2 : 11, info.eosId);
  const pad = special(NULL_TOKEN, info.padId);
  let eot = special(NULL_TOKEN, info.eotId);

  const addBos = info.addBos ?? (type === "spm" ? true : pre!.addBos);
  const addEos = info.addEos ?? false;
  if (addBos && bos === NULL_TOKEN) throw new BitsmithError("add_bos_token is true, but there is no BOS token", where("tokenizer.ggml.bos_token_id"));
  if (addEos && eos === NULL_TOKEN) throw new BitsmithError("add_eos_token is true, but there is no EOS token", where("tokenizer.ggml.eos_token_id"));

  // Detection by text. llama.cpp walks a hash map, so when several tokens match one list it is unspecified
  // which one it takes; here the lowest id wins.
  const makeControl = (id: number) => (attrs[id] |= ATTR_CONTROL);
  const findByText = (texts: readonly string[]) => {
    const found = texts.map((t) => ids.get(t)).filter((id) => id !== undefined);
    return found.length > 0 ? Math.min(...found) : NULL_TOKEN;
  };
  const detect = (texts: readonly string[]) => {
    const id = findByText(texts);
    if (id !== NULL_TOKEN) makeControl(id);
    return id;
  };
  if (eot === NULL_TOKEN) eot = detect(EOT_TEXTS);
  const eom = detect(EOM_TEXTS);
  for (const texts of [FIM_PRE_TEXTS, FIM_SUF_TEXTS, FIM_MID_TEXTS]) detect(texts);
  const eog = new Set<number>();
  for (const texts of [FIM_PAD_TEXTS, FIM_REP_TEXTS, FIM_SEP_TEXTS]) {
    const id = detect(texts);
    if (id !== NULL_TOKEN) eog.add(id);
  }
  for (const text of EOG_TEXTS) {
    const id = ids.get(text);
    if (id !== undefined) {
      eog.add(id);
      makeControl(id);
    }
  }
  for (const text of ALWAYS_RENDERED) {
    const id = ids.get(text);
    if (id !== undefined) attrs[id] = ATTR_USER_DEFINED;
  }
  for (const id of [eos, eot, eom]) if (id !== NULL_TOKEN) eog.add(id);
  dropConflictingEog(tokens, attrs, eog);

  // llama.cpp sorts by byte length with an unstable sort; equal lengths go by id here.
  const byteLength = (id: number) => utf8Bytes(tokens[id]).length;
  const specialTokens = tokens
    .map((_, id) => id)
    .filter((id) => attrs[id] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN))
    .map((id) => ({ id, length: byteLength(id) }))
    .sort((a, b) => b.length - a.length || a.id - b.id)
    .map(({ id }) => id);

  applyNameAttributes(ids, attrs, specialTokens, info.pre ?? "", modelName ?? "");

  return {
    type,
    tokens,
    ids,
    scores,
    attrs,
    mergeRanks,
    pre,
    bos,
    eos,
    eot,
    pad,
    addBos,
    addEos,
    addSpacePrefix: info.addSpacePrefix ?? type === "spm",
    cleanSpaces: pre?.cleanSpaces ?? false,
    specialTokens,
    eog,
  };
}

/**
 * llama.cpp's two EOG workarounds: with gpt-oss's (or solar-open's) tool-call tokens present, `<|end|>` ends
 * only a message, not generation; with Gemma 4's `<|tool_response>`, `</s>` is an ordinary token.
 */
function dropConflictingEog(tokens: readonly string[], attrs: Uint16Array, eog: Set<number>): void {
  const texts = new Map<string, number>();
  for (const id of eog) texts.set(tokens[id], id);
  const has = (t: string) => texts.has(t);
  const end = texts.get("<|end|>");
  const hasCall = has("<|call|>") || has("<|calls|>");
  if (end !== undefined && ((has("<|return|>") && hasCall) || (hasCall && has("<|flush|>")))) {
    eog.delete(end);
    attrs[end] = ATTR_USER_DEFINED;
  }
  const s = texts.get("</s>");
  if (s !== undefined && has("<|tool_response>")) {
    eog.delete(s);
    attrs[s] = ATTR_NORMAL;
  }
}

/** Per-token attributes llama.cpp sets by pre-tokenizer or model name (they are not stored in GGUF). */
function applyNameAttributes(
  ids: ReadonlyMap<string, number>,
  attrs: Uint16Array,
  specialTokens: readonly number[],
  pre: string,
  modelName: string,
): void {
  const set = (text: string, attr: number, on: boolean) => {
    const id = ids.get(text);
    if (id !== undefined) attrs[id] = on ? attrs[id] | attr : attrs[id] & ~attr;
  };
  const name = modelName.toLowerCase();
  if (["jina-v2-de", "jina-v2-es", "jina-v2-code"].some((p) => pre.includes(p))) {
    set("<mask>", ATTR_LSTRIP, true);
  } else if (name.includes("phi-3") || name.includes("phi3")) {
    for (const id of specialTokens) attrs[id] |= ATTR_RSTRIP;
    set("</s>", ATTR_RSTRIP, true);
    for (const text of ["<unk>", "<s>", "<|endoftext|>"]) set(text, ATTR_RSTRIP, false);
  }
}
