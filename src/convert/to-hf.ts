/**
 * A Llama-family model (GGUF or llama2.c) to a Hugging Face directory: config.json, generation_config.json,
 * tokenizer files and safetensors weights under HF names with the Q/K rows back in HF order. The inverse of
 * convertToGguf for float weights: GGUF -> HF -> GGUF gives the same tensors. Streams one tensor at a time.
 */
import { BitsmithError, silentProgress, writeFiles } from "../core/index.js";
import type { FileSystemLike, LlamaHParams, ModelSource, Progress, TensorRef, TensorTypeInfo } from "../core/index.js";
import { writeShardedSafetensors } from "../formats/safetensors/index.js";
import type { TensorToWrite } from "../formats/safetensors/index.js";
import { ggufToHfName, permuteQkRows, qkPermutationHeads } from "../model/llama-names.js";
import { ggufView } from "../model/gguf-view.js";
import { hfTokenizerFiles } from "./hf-tokenizer-files.js";
import { outputTensorType } from "./outtype.js";
import type { OutType } from "./outtype.js";
import { transcode } from "./tensor-transcode.js";

export interface ConvertToHfOptions {
  outtype?: OutType;
  /** Largest safetensors shard in bytes; default: one file. */
  maxShardSize?: number;
  progress?: Progress;
}

export const HF_CLASS: Record<string, { modelType: string; cls: string }> = {
  llama: { modelType: "llama", cls: "LlamaForCausalLM" },
  qwen2: { modelType: "qwen2", cls: "Qwen2ForCausalLM" },
};

export function hfConfig(architecture: string, h: LlamaHParams, source: ModelSource, dtype: string): Record<string, unknown> {
  const cls = HF_CLASS[architecture]!;
  const t = source.info.tokenizer;
  const config: Record<string, unknown> = {
    architectures: [cls.cls],
    model_type: cls.modelType,
    hidden_size: h.hiddenSize,
    intermediate_size: h.intermediateSize,
    num_hidden_layers: h.numLayers,
    num_attention_heads: h.numHeads,
    num_key_value_heads: h.numKvHeads,
    head_dim: h.headDim,
    max_position_embeddings: h.contextLength,
    rms_norm_eps: h.rmsNormEps,
    rope_theta: h.ropeTheta,
    rope_scaling: h.ropeScaling
      ? {
          rope_type: h.ropeScaling.type,
          factor: h.ropeScaling.factor,
          ...(h.ropeScaling.lowFreqFactor !== undefined ? { low_freq_factor: h.ropeScaling.lowFreqFactor } : {}),
          ...(h.ropeScaling.highFreqFactor !== undefined ? { high_freq_factor: h.ropeScaling.highFreqFactor } : {}),
          ...(h.ropeScaling.originalContextLength !== undefined ? { original_max_position_embeddings: h.ropeScaling.originalContextLength } : {}),
        }
      : null,
    tie_word_embeddings: h.tieWordEmbeddings,
    vocab_size: h.vocabSize,
    hidden_act: "silu",
    torch_dtype: dtype,
  };
  if (architecture === "llama") Object.assign(config, { attention_bias: false, mlp_bias: false });
  if (t?.bosId !== undefined && t.bosId < t.tokens.length) config.bos_token_id = t.bosId;
  if (t?.eosId !== undefined && t.eosId < t.tokens.length) config.eos_token_id = t.eosId;
  return config;
}

const TORCH_DTYPE: Record<string, string> = { F32: "float32", F16: "float16", BF16: "bfloat16" };

function hfTensor(t: TensorRef, architecture: string, h: LlamaHParams, type: TensorTypeInfo, progress: Progress, file: string): TensorToWrite {
  const name = ggufToHfName(t.name);
  if (!name) throw new BitsmithError("tensor has no Hugging Face equivalent", { file, field: t.name });
  const heads = qkPermutationHeads(architecture, t.name, h.numHeads, h.numKvHeads);
  return {
    name,
    type,
    shape: t.shape,
    async read() {
      let bytes = await t.read();
      // Un-interleave in the source type: rows are whole, so any type (even quantized) moves as raw bytes.
      if (heads !== undefined) bytes = permuteQkRows(bytes, t.shape[0]!, heads, false);
      const out = transcode(bytes, t.type, type, t.shape);
      progress.advance(t.byteLength, t.name);
      return out;
    },
  };
}

export async function convertToHf(model: ModelSource, fs: FileSystemLike, dir: string, options: ConvertToHfOptions = {}): Promise<string[]> {
  const outtype = options.outtype ?? "auto";
  if (outtype === "q8_0") throw new BitsmithError("q8_0 is a GGUF type; a Hugging Face directory takes f32, f16, bf16 or auto", { field: "--outtype" });
  const progress = options.progress ?? silentProgress;
  const source = ggufView(model);
  const h = source.info.hparams;
  const arch = source.info.architecture;
  if (!h || !HF_CLASS[arch]) {
    throw new BitsmithError(`cannot write architecture "${arch}" as a Hugging Face model; supported: ${Object.keys(HF_CLASS).join(", ")}`, { file: source.name });
  }
  // A shared classifier (llama2.c, or a GGUF without output.weight) is HF's tie_word_embeddings: drop the copy.
  const included = source.tensors.filter((t) => !(h.tieWordEmbeddings && t.name === "output.weight"));
  const weights = included.map((t) => hfTensor(t, arch, h, outputTensorType(t, outtype), progress, source.name));
  const mainType = weights.find((t) => t.shape.length === 2)?.type.name ?? "F32";

  const files: Record<string, string | Uint8Array> = {
    "config.json": JSON.stringify(hfConfig(arch, h, source, TORCH_DTYPE[mainType] ?? "float32"), null, 2),
  };
  const tok = source.info.tokenizer;
  if (tok) {
    Object.assign(files, hfTokenizerFiles(tok));
    const gen: Record<string, unknown> = {};
    if (tok.bosId !== undefined && tok.bosId < tok.tokens.length) gen.bos_token_id = tok.bosId;
    if (tok.eosId !== undefined && tok.eosId < tok.tokens.length) gen.eos_token_id = tok.eosId;
    files["generation_config.json"] = JSON.stringify(gen, null, 2);
  }
  await fs.mkdir(dir);
  progress.start("convert", included.reduce((a, t) => a + t.byteLength, 0), "B");
  const written = await writeShardedSafetensors(fs, dir, weights, {
    maxShardSize: options.maxShardSize ?? Number.MAX_SAFE_INTEGER,
    metadata: new Map([["format", "pt"]]),
  });
  // Text files last: a directory with config.json but no weights must never be left behind.
  await writeFiles(fs, dir, files);
  progress.finish();
  return [...written, ...Object.keys(files)];
}
