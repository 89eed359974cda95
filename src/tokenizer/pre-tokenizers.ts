/**
 * llama.cpp's byte-level BPE pre-tokenizers, selected by `tokenizer.ggml.pre`: the splitting expressions of
 * each family (llm_tokenizer_bpe) and the vocabulary settings the name implies (llama_vocab::impl::load).
 * The expression strings are the ones llama.cpp uses (adapted from each model's tokenizer.json), so they
 * must stay byte-for-byte as they are.
 */
import { BitsmithError } from "../core/index.js";
import { GPT2_EXPRESSION, LLAMA3_EXPRESSION } from "./regex-split.js";

export interface PreTokenizer {
  /** Applied in order; each one splits the pieces the previous ones produced. */
  readonly expressions: readonly string[];
  /** llama.cpp's clean_spaces: detokenize removes the space before `?!.,` and in ` 's`-style contractions. */
  readonly cleanSpaces: boolean;
  /** A whole word that is a vocabulary token is emitted without merging (Llama 3, Tekken). */
  readonly ignoreMerges: boolean;
  /** The default of add_bos_token for this family (the GGUF key overrides it). */
  readonly addBos: boolean;
  /** The family has no BOS token unless the GGUF names one (ChatGLM). */
  readonly noDefaultBos: boolean;
}

const QWEN2_EXPRESSION =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const TEKKEN_EXPRESSION =
  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT4O_EXPRESSION =
  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM_EXPRESSION = " ?[^(\\s|.,!?…。，、।۔،)]+";

const DEFAULT = ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_EXPRESSION, "\\p{N}+", "[0-9][0-9][0-9]"];
const LLAMA3 = [LLAMA3_EXPRESSION];
const GPT2 = [GPT2_EXPRESSION];
const QWEN2 = [QWEN2_EXPRESSION];
const STARCODER = ["\\p{N}", GPT2_EXPRESSION];
const FALCON = ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_EXPRESSION, "[0-9][0-9][0-9]"];
// Code points with a singleton canonical decomposition (U+1F7D, U+1FBE, ...) are written as escapes: Unicode
// normalization by an editor would silently replace them with other code points.
const DEEPSEEK_LLM = [
  "[\r\n]",
  "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
  "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
  "\\s+$",
  "[一-龥ࠀ-一가-퟿]+",
  "\\p{N}+",
];
const DEEPSEEK_CODER = ["[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"];
const DEEPSEEK_V3 = [
  "\\p{N}{1,3}",
  "[一-龥぀-ゟ゠-ヿ]+",
  "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
];

interface Family {
  expressions: readonly string[];
  names: readonly string[];
  /** Names of this family whose clean_spaces is false (it is true for BPE unless the name turns it off). */
  noCleanSpaces?: readonly string[];
  ignoreMerges?: boolean;
  addBos?: boolean;
  noDefaultBos?: boolean;
}

const FAMILIES: readonly Family[] = [
  { expressions: DEFAULT, names: ["default"] },
  {
    expressions: LLAMA3,
    names: ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"],
    ignoreMerges: true,
    addBos: true,
  },
  { expressions: LLAMA3, names: ["dbrx", "smaug-bpe"] },
  { expressions: LLAMA3, names: ["chatglm-bpe", "glm4"], noDefaultBos: true },
  { expressions: DEEPSEEK_LLM, names: ["deepseek-llm"], noCleanSpaces: ["deepseek-llm"] },
  { expressions: DEEPSEEK_CODER, names: ["deepseek-coder"], noCleanSpaces: ["deepseek-coder"] },
  { expressions: DEEPSEEK_V3, names: ["deepseek-v3"], noCleanSpaces: ["deepseek-v3"] },
  { expressions: FALCON, names: ["falcon"] },
  {
    expressions: GPT2,
    names: ["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"],
    noCleanSpaces: ["trillion", "granite-docling"],
  },
  {
    expressions: STARCODER,
    names: ["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"],
    noCleanSpaces: ["command-r", "smollm"],
  },
  {
    expressions: QWEN2,
    names: ["qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan"],
    noCleanSpaces: ["qwen2", "deepseek-r1-qwen", "hunyuan"],
  },
  { expressions: [TEKKEN_EXPRESSION], names: ["tekken"], noCleanSpaces: ["tekken"], ignoreMerges: true, addBos: true },
  { expressions: [GPT4O_EXPRESSION], names: ["gpt-4o", "llama4"], noCleanSpaces: ["gpt-4o", "llama4"] },
  { expressions: [BLOOM_EXPRESSION], names: ["poro-chat", "bloom", "gpt3-finnish"], noCleanSpaces: ["poro-chat"] },
  { expressions: [BLOOM_EXPRESSION, "\\p{N}"], names: ["viking"], noCleanSpaces: ["viking"] },
];

/** The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre` (absent: "default", as llama.cpp warns). */
export function bpePreTokenizer(pre: string | undefined, file?: string): PreTokenizer {
  const name = pre ?? "default";
  const family = FAMILIES.find((f) => f.names.includes(name));
  if (family === undefined) {
    throw new BitsmithError(`unsupported pre-tokenizer "${name}" (supported: ${FAMILIES.flatMap((f) => f.names).join(", ")})`, {
      file,
      field: "tokenizer.ggml.pre",
    });
  }
  return {
    expressions: family.expressions,
    cleanSpaces: !(family.noCleanSpaces ?? []).includes(name),
    ignoreMerges: family.ignoreMerges ?? false,
    addBos: family.addBos ?? false,
    noDefaultBos: family.noDefaultBos ?? false,
  };
}
