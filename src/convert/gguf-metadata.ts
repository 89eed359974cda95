/**
 * The GGUF key/values that describe a Llama-family model, as llama.cpp's converters write them. Two orders
 * exist because two converters exist: convert_hf_to_gguf.py (architecture first, tokenizer last) and
 * convert-llama2c-to-ggml (tokenizer first). Values are the same; following each converter's order lets a
 * bitsmith conversion of a llama2.c checkpoint come out byte-identical to llama.cpp's.
 */
import { BitsmithError } from "../core/index.js";
import type { LlamaHParams, ModelInfo, TokenizerInfo } from "../core/index.js";
import { GgufValueType, gguf } from "../formats/gguf/index.js";
import type { GgufValue } from "../formats/gguf/index.js";
import { QUANTIZE_FILE_TYPES } from "../quantize/ftype.js";

type Kv = [string, GgufValue];

/** tokenizer.ggml.* keys, in the order both of llama.cpp's converters use for the vocabulary arrays. */
export function tokenizerKvs(t: TokenizerInfo): { vocab: Kv[]; special: Kv[] } {
  const vocab: Kv[] = [];
  vocab.push(["tokenizer.ggml.tokens", gguf.arr(GgufValueType.STRING, t.tokens)]);
  if (t.scores) vocab.push(["tokenizer.ggml.scores", gguf.arr(GgufValueType.FLOAT32, t.scores)]);
  if (t.tokenTypes) vocab.push(["tokenizer.ggml.token_type", gguf.arr(GgufValueType.INT32, t.tokenTypes)]);
  if (t.merges) vocab.push(["tokenizer.ggml.merges", gguf.arr(GgufValueType.STRING, t.merges)]);
  const special: Kv[] = [];
  const id = (key: string, v: number | undefined) => {
    if (v !== undefined) special.push([`tokenizer.ggml.${key}`, gguf.u32(v)]);
  };
  id("bos_token_id", t.bosId);
  id("eos_token_id", t.eosId);
  id("unknown_token_id", t.unkId);
  id("seperator_token_id", t.sepId);
  id("padding_token_id", t.padId);
  id("cls_token_id", t.clsId);
  id("mask_token_id", t.maskId);
  id("eot_token_id", t.eotId);
  const flag = (key: string, v: boolean | undefined) => {
    if (v !== undefined) special.push([`tokenizer.ggml.${key}`, gguf.bool(v)]);
  };
  flag("add_bos_token", t.addBos);
  flag("add_sep_token", t.addSep);
  flag("add_eos_token", t.addEos);
  flag("add_space_prefix", t.addSpacePrefix);
  if (t.chatTemplate !== undefined) special.push(["tokenizer.chat_template", gguf.str(t.chatTemplate)]);
  return { vocab, special };
}

function requireHparams(info: ModelInfo, file: string): LlamaHParams {
  if (!info.hparams) throw new BitsmithError("the model's hyperparameters are unknown; cannot describe it in GGUF", { file });
  return info.hparams;
}

/** Rope dimension count as llama.cpp's converters compute it. */
function ropeDimensions(h: LlamaHParams): number {
  return h.headDim;
}

/** What llama.cpp's convert-llama2c-to-ggml writes, in its order. */
export function llama2cGgufMetadata(info: ModelInfo, file: string): Kv[] {
  const h = requireHparams(info, file);
  const arch = info.architecture;
  const kv: Kv[] = [];
  const tok = info.tokenizer ? tokenizerKvs(info.tokenizer) : undefined;
  if (tok) kv.push(...tok.vocab, ["tokenizer.ggml.model", gguf.str(info.tokenizer!.model)]);
  kv.push(["general.architecture", gguf.str(arch)], ["general.name", gguf.str(info.name ?? arch)]);
  if (tok) {
    // This converter writes the special ids in the order unk, bos, eos, sep, pad.
    const order = ["unknown_token_id", "bos_token_id", "eos_token_id", "seperator_token_id", "padding_token_id"];
    const byKey = new Map(tok.special);
    for (const k of order) {
      const v = byKey.get(`tokenizer.ggml.${k}`);
      if (v) kv.push([`tokenizer.ggml.${k}`, v]);
    }
  }
  kv.push(
    [`${arch}.context_length`, gguf.u32(h.contextLength)],
    [`${arch}.embedding_length`, gguf.u32(h.hiddenSize)],
    [`${arch}.feed_forward_length`, gguf.u32(h.intermediateSize)],
    [`${arch}.attention.head_count`, gguf.u32(h.numHeads)],
    [`${arch}.attention.head_count_kv`, gguf.u32(h.numKvHeads)],
    [`${arch}.block_count`, gguf.u32(h.numLayers)],
    [`${arch}.rope.dimension_count`, gguf.u32(Math.min(64, ropeDimensions(h)))],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(h.rmsNormEps)],
  );
  return kv;
}

/**
 * llama.cpp's LLAMA_FTYPE of a file whose weights are mostly the tensor type named by the key
 * (general.file_type): what llama.cpp prints as the model's type. Taken from llama-quantize's table.
 */
export const FILE_TYPES: Readonly<Record<string, number>> = Object.fromEntries(
  QUANTIZE_FILE_TYPES.filter((t) => t.name === t.defaultType.name && !t.onlyCopy).map((t) => [t.name, t.ftype]),
);

/** What convert_hf_to_gguf.py writes for a Llama-family model, in its order. */
export function hfGgufMetadata(info: ModelInfo, file: string, fileType: number | undefined): Kv[] {
  const h = requireHparams(info, file);
  const arch = info.architecture;
  const kv: Kv[] = [
    ["general.architecture", gguf.str(arch)],
    ["general.type", gguf.str("model")],
  ];
  if (info.name) kv.push(["general.name", gguf.str(info.name)]);
  kv.push(
    [`${arch}.block_count`, gguf.u32(h.numLayers)],
    [`${arch}.context_length`, gguf.u32(h.contextLength)],
    [`${arch}.embedding_length`, gguf.u32(h.hiddenSize)],
    [`${arch}.feed_forward_length`, gguf.u32(h.intermediateSize)],
    [`${arch}.attention.head_count`, gguf.u32(h.numHeads)],
    [`${arch}.attention.head_count_kv`, gguf.u32(h.numKvHeads)],
    [`${arch}.rope.freq_base`, gguf.f32(h.ropeTheta)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(h.rmsNormEps)],
  );
  if (h.headDim * h.numHeads !== h.hiddenSize) {
    kv.push([`${arch}.attention.key_length`, gguf.u32(h.headDim)], [`${arch}.attention.value_length`, gguf.u32(h.headDim)]);
  }
  if (fileType !== undefined) kv.push(["general.file_type", gguf.u32(fileType)]);
  kv.push([`${arch}.vocab_size`, gguf.u32(h.vocabSize)], [`${arch}.rope.dimension_count`, gguf.u32(ropeDimensions(h))]);
  const rs = h.ropeScaling;
  if (rs && rs.type !== "llama3") {
    // llama 3 scaling is expressed as the rope_freqs.weight tensor instead (see model/rope-freqs.ts).
    kv.push([`${arch}.rope.scaling.type`, gguf.str(rs.type)], [`${arch}.rope.scaling.factor`, gguf.f32(rs.factor)]);
    if (rs.originalContextLength !== undefined) {
      kv.push([`${arch}.rope.scaling.original_context_length`, gguf.u32(rs.originalContextLength)]);
    }
  }
  kv.push(["general.quantization_version", gguf.u32(2)]);
  if (info.tokenizer) {
    const t = info.tokenizer;
    kv.push(["tokenizer.ggml.model", gguf.str(t.model)]);
    if (t.pre !== undefined) kv.push(["tokenizer.ggml.pre", gguf.str(t.pre)]);
    const tok = tokenizerKvs(t);
    kv.push(...tok.vocab, ...tok.special);
  }
  return kv;
}
