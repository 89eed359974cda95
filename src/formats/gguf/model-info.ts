/**
 * ModelInfo from GGUF metadata: the architecture, Llama-family hyperparameters (`<arch>.*` keys) and the
 * llama.cpp vocabulary (`tokenizer.ggml.*` keys), read the way llama.cpp's loader reads them, with its
 * defaults where it has defaults.
 */
import { BitsmithError } from "../../core/index.js";
import type { LlamaHParams, ModelInfo, RopeScaling, TokenizerInfo } from "../../core/index.js";
import { getBool, getNumber, getNumberArray, getString, getStringArray } from "./values.js";
import type { GgufValue } from "./values.js";

type Meta = ReadonlyMap<string, GgufValue>;
type TensorNames = readonly { readonly name: string; readonly shape: readonly number[] }[];

/**
 * `tensors` is the model's tensor list: it decides tieWordEmbeddings (no `output.weight`), attentionBias
 * (`blk.0.attn_q.bias` present, as in qwen2) and, failing vocabulary keys, the vocabulary size.
 * `hparams` is absent when the file has no `<arch>.block_count`/`embedding_length` (vocabulary-only files);
 * `tokenizer` is absent without `tokenizer.ggml.model`.
 */
export function ggufModelInfo(metadata: Meta, tensors: TensorNames, file?: string): ModelInfo {
  const architecture = getString(metadata, "general.architecture", file);
  if (architecture === undefined) throw new BitsmithError("missing: the file does not describe a model", { file, field: "general.architecture" });
  const tokenizer = ggufTokenizerInfo(metadata, file);
  return {
    architecture,
    name: getString(metadata, "general.name", file),
    hparams: llamaHParams(metadata, architecture, tensors, tokenizer, file),
    tokenizer,
  };
}

function llamaHParams(meta: Meta, arch: string, tensors: TensorNames, tokenizer: TokenizerInfo | undefined, file?: string): LlamaHParams | undefined {
  const num = (key: string) => getNumber(meta, `${arch}.${key}`, file);
  const required = (key: string) => {
    const v = num(key);
    if (v === undefined) throw new BitsmithError("missing", { file, field: `${arch}.${key}` });
    return v;
  };
  if (num("block_count") === undefined || num("embedding_length") === undefined) return undefined;

  const hiddenSize = required("embedding_length");
  const numHeads = required("attention.head_count");
  const tokenEmbd = tensors.find((t) => t.name === "token_embd.weight");
  const vocabSize = tokenizer?.tokens.length || num("vocab_size") || tokenEmbd?.shape[0];
  if (vocabSize === undefined) throw new BitsmithError("missing (and no tokenizer.ggml.tokens or token_embd.weight)", { file, field: `${arch}.vocab_size` });
  return {
    vocabSize,
    hiddenSize,
    intermediateSize: required("feed_forward_length"),
    numLayers: required("block_count"),
    numHeads,
    numKvHeads: num("attention.head_count_kv") ?? numHeads,
    // llama.cpp: key_length defaults to n_embd / n_head; rope.dimension_count defaults to the head size.
    headDim: num("attention.key_length") ?? num("rope.dimension_count") ?? hiddenSize / numHeads,
    contextLength: required("context_length"),
    // Non-RMS architectures (gpt2) have only the plain layer norm epsilon.
    rmsNormEps: num("attention.layer_norm_rms_epsilon") ?? required("attention.layer_norm_epsilon"),
    ropeTheta: num("rope.freq_base") ?? 10000,
    ropeScaling: ropeScaling(meta, arch, file),
    tieWordEmbeddings: !tensors.some((t) => t.name === "output.weight"),
    attentionBias: tensors.some((t) => t.name === "blk.0.attn_q.bias"),
  };
}

/**
 * `rope.scaling.type` (none, linear, yarn, longrope) with `rope.scaling.factor`, or the older
 * `rope.scale_linear`. Llama 3's scaling is not in the keys: converters store it as the `rope_freqs.weight` tensor.
 */
function ropeScaling(meta: Meta, arch: string, file?: string): RopeScaling | undefined {
  const factor = getNumber(meta, `${arch}.rope.scaling.factor`, file) ?? getNumber(meta, `${arch}.rope.scale_linear`, file);
  const type = getString(meta, `${arch}.rope.scaling.type`, file) ?? (factor !== undefined ? "linear" : undefined);
  if (type === undefined || type === "none" || !factor) return undefined;
  const originalContextLength = getNumber(meta, `${arch}.rope.scaling.original_context_length`, file);
  return originalContextLength === undefined ? { type, factor } : { type, factor, originalContextLength };
}

export function ggufTokenizerInfo(meta: Meta, file?: string): TokenizerInfo | undefined {
  const model = getString(meta, "tokenizer.ggml.model", file);
  if (model === undefined) return undefined;
  const scores = getNumberArray(meta, "tokenizer.ggml.scores", file);
  const tokenTypes = getNumberArray(meta, "tokenizer.ggml.token_type", file);
  return {
    model,
    pre: getString(meta, "tokenizer.ggml.pre", file),
    tokens: getStringArray(meta, "tokenizer.ggml.tokens", file) ?? [],
    scores: scores === undefined || scores instanceof Float32Array ? scores : Float32Array.from(scores),
    tokenTypes: tokenTypes === undefined || tokenTypes instanceof Int32Array ? tokenTypes : Int32Array.from(tokenTypes),
    merges: getStringArray(meta, "tokenizer.ggml.merges", file),
    bosId: getNumber(meta, "tokenizer.ggml.bos_token_id", file),
    eosId: getNumber(meta, "tokenizer.ggml.eos_token_id", file),
    unkId: getNumber(meta, "tokenizer.ggml.unknown_token_id", file),
    padId: getNumber(meta, "tokenizer.ggml.padding_token_id", file),
    sepId: getNumber(meta, "tokenizer.ggml.seperator_token_id", file),
    clsId: getNumber(meta, "tokenizer.ggml.cls_token_id", file),
    maskId: getNumber(meta, "tokenizer.ggml.mask_token_id", file),
    eotId: getNumber(meta, "tokenizer.ggml.eot_token_id", file),
    addBos: getBool(meta, "tokenizer.ggml.add_bos_token", file),
    addEos: getBool(meta, "tokenizer.ggml.add_eos_token", file),
    addSep: getBool(meta, "tokenizer.ggml.add_sep_token", file),
    addSpacePrefix: getBool(meta, "tokenizer.ggml.add_space_prefix", file),
    chatTemplate: getString(meta, "tokenizer.chat_template", file),
  };
}
