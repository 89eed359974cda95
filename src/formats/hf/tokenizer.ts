/**
 * The tokenizer files of a Hugging Face model directory as a TokenizerInfo in llama.cpp's GGUF terms, choosing the
 * vocabulary builder as convert_hf_to_gguf.py does for llama, mistral (LlamaModel.set_vocab) and qwen2
 * (Qwen2Model.set_vocab): tokenizer.model first; then, for llama and mistral, a byte-fallback BPE tokenizer.json;
 * otherwise a byte-level BPE tokenizer.json ("gpt2", with its pre-tokenizer identified by hash).
 */
import { BitsmithError } from "../../core/index.js";
import type { TokenizerInfo } from "../../core/index.js";
import type { HfModelType } from "./config.js";
import { isJsonObject, optionalInteger, parseJsonObject } from "./json-file.js";
import { bpePreTokenizer, loadTokenizer } from "./pre-tokenizer.js";
import { parseSentencePieceModel } from "./sentencepiece-model.js";
import { applySpecialVocab, readSpecialVocab } from "./special-vocab.js";
import type { NamedJson } from "./special-vocab.js";
import { bpeVocab, mergesOf, parseMergesTxt } from "./vocab-bpe.js";
import { isLlamaHfTokenizer, llamaHfVocab, sentencePieceVocab } from "./vocab-llama.js";

export interface TextFile {
  path: string;
  text: string;
}

/** The files a directory may hold; the caller reads those that exist. */
export interface HfTokenizerFiles {
  /** config.json: vocab_size and *_token_id. */
  config?: TextFile;
  tokenizerJson?: TextFile;
  tokenizerModel?: { path: string; bytes: Uint8Array };
  tokenizerConfig?: TextFile;
  specialTokensMap?: TextFile;
  addedTokensJson?: TextFile;
  mergesTxt?: TextFile;
  chatTemplateJinja?: TextFile;
  chatTemplateJson?: TextFile;
}

export interface HfTokenizerOptions {
  modelType: HfModelType;
  /** tokenizer.ggml.pre to use instead of identifying a BPE tokenizer by its hash (which fails for unknown ones). */
  pre?: string;
}

const parsed = (f: TextFile | undefined): NamedJson | undefined => (f ? { path: f.path, json: parseJsonObject(f.text, f.path) } : undefined);

export async function hfTokenizerInfo(files: HfTokenizerFiles, options: HfTokenizerOptions): Promise<TokenizerInfo> {
  const config = parsed(files.config);
  const tokenizerJson = parsed(files.tokenizerJson);
  const tokenizerConfig = parsed(files.tokenizerConfig);
  const vocabSize = config ? optionalInteger(config.json, "vocab_size", config.path) : undefined;
  const isLlamaFamily = options.modelType === "llama" || options.modelType === "mistral";

  let info: TokenizerInfo;
  if (files.tokenizerModel) {
    const pieces = parseSentencePieceModel(files.tokenizerModel.bytes, files.tokenizerModel.path);
    const vocab = sentencePieceVocab(pieces, vocabSize, parsed(files.addedTokensJson), tokenizerConfig);
    info = { model: "llama", pre: "default", ...vocab };
  } else if (!tokenizerJson) {
    throw new BitsmithError("found neither tokenizer.model nor tokenizer.json: the model has no tokenizer llama.cpp can convert", { file: files.config?.path });
  } else if (isLlamaFamily && isLlamaHfTokenizer(tokenizerJson.json)) {
    info = { model: "llama", pre: "default", ...llamaHfVocab(tokenizerJson, tokenizerConfig, parsed(files.specialTokensMap)) };
  } else {
    const model = tokenizerJson.json.model;
    const type = isJsonObject(model) ? model.type : undefined;
    if (type !== "BPE") {
      throw new BitsmithError(
        `model type ${JSON.stringify(type)} is not supported: llama.cpp converts llama, mistral and qwen2 vocabularies from tokenizer.model or from a BPE tokenizer.json`,
        { file: tokenizerJson.path, field: "model.type" },
      );
    }
    const tokenizer = loadTokenizer(tokenizerJson.json, tokenizerConfig?.json, tokenizerJson.path);
    const pre = options.pre ?? (await bpePreTokenizer(tokenizer, tokenizerJson.path));
    info = { model: "gpt2", pre, ...bpeVocab(tokenizerJson.json, tokenizer, vocabSize, tokenizerJson.path) };
    // SpecialVocab(load_merges=True): tokenizer.json's merges, else merges.txt.
    let merges = mergesOf(tokenizerJson.json, tokenizerJson.path);
    if (merges.length === 0 && files.mergesTxt) merges = parseMergesTxt(files.mergesTxt.text);
    if (merges.length > 0) info.merges = merges;
  }
  // LlamaModel.set_vocab writes add_space_prefix from tokenizer_config.json; Qwen2Model does not.
  const addPrefixSpace = tokenizerConfig?.json.add_prefix_space;
  if (isLlamaFamily && typeof addPrefixSpace === "boolean") info.addSpacePrefix = addPrefixSpace;

  const special = readSpecialVocab({
    tokenizerJson,
    tokenizerConfig,
    config,
    chatTemplateJinja: files.chatTemplateJinja?.text,
    chatTemplateJson: parsed(files.chatTemplateJson),
    // The gpt2 path builds its SpecialVocab without n_vocab, so it does not range-check ids.
    nVocab: info.model === "llama" ? info.tokens.length : undefined,
  });
  applySpecialVocab(info, special);
  return info;
}
