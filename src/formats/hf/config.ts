/**
 * Hugging Face config.json of the Llama family (llama, mistral, qwen2) to LlamaHParams, with the values
 * llama.cpp's convert_hf_to_gguf.py would see: it reads the config through transformers' AutoConfig, so a key the
 * file leaves out takes the default of that model type's transformers config class.
 */
import { BitsmithError } from "../../core/index.js";
import type { LlamaHParams, RopeScaling } from "../../core/index.js";
import { isJsonObject, optionalBoolean, optionalInteger, optionalNumber, parseJsonObject, requiredInteger } from "./json-file.js";
import type { JsonObject } from "./json-file.js";

export type HfModelType = "llama" | "mistral" | "qwen2";

export interface HfConfig {
  modelType: HfModelType;
  /** general.architecture of the GGUF llama.cpp makes: mistral converts to "llama". */
  architecture: "llama" | "qwen2";
  hparams: LlamaHParams;
  /**
   * Mistral's sliding_window as the config states it (null or absent: undefined). llama.cpp converts mistral as
   * plain llama and drops it, so a GGUF model attends over the whole context; worth a warning when it is smaller
   * than the context length.
   */
  slidingWindow?: number;
  raw: JsonObject;
}

/** Defaults of transformers' LlamaConfig, MistralConfig and Qwen2Config for keys a config may leave out. */
const DEFAULTS: Record<HfModelType, { contextLength: number; kvHeadsIfAbsent: number | "heads" }> = {
  llama: { contextLength: 2048, kvHeadsIfAbsent: "heads" },
  mistral: { contextLength: 4096 * 32, kvHeadsIfAbsent: 8 },
  qwen2: { contextLength: 32768, kvHeadsIfAbsent: 32 },
};
const DEFAULT_RMS_NORM_EPS = 1e-6;
const DEFAULT_ROPE_THETA = 10000;
/** llama.cpp's defaults for llama3 rope scaling keys a config leaves out (LlamaModel.generate_extra_tensors). */
const LLAMA3_ROPE_DEFAULTS = { factor: 8, lowFreqFactor: 1, highFreqFactor: 4 };

export const SUPPORTED_MODEL_TYPES: readonly HfModelType[] = ["llama", "mistral", "qwen2"];

function modelTypeOf(raw: JsonObject, file: string): HfModelType {
  const mt = raw.model_type;
  if (mt === undefined) throw new BitsmithError("is missing", { file, field: "model_type" });
  if (typeof mt !== "string" || !(SUPPORTED_MODEL_TYPES as readonly unknown[]).includes(mt)) {
    const name = typeof mt === "string" ? mt : JSON.stringify(mt);
    throw new BitsmithError(`unsupported architecture ${name}; supported: ${SUPPORTED_MODEL_TYPES.join(", ")}`, { file, field: "model_type" });
  }
  return mt as HfModelType;
}

/**
 * Rope scaling from `rope_parameters` (transformers 5) or `rope_scaling`, as llama.cpp picks between them.
 * "default" (or no type) means none. Returns the theta stored there too, which takes precedence.
 */
function ropeOf(raw: JsonObject, file: string): { scaling?: RopeScaling; theta?: number } {
  const field = raw.rope_parameters !== undefined && raw.rope_parameters !== null ? "rope_parameters" : "rope_scaling";
  const params = raw[field];
  if (params === undefined || params === null) return {};
  if (!isJsonObject(params)) throw new BitsmithError(`must be an object, got ${JSON.stringify(params)}`, { file, field });
  const sub = (key: string) => `${field}.${key}`;
  const num = (key: string) => optionalNumber(params, key, file, sub(key));
  const theta = num("rope_theta");
  const type = params.rope_type ?? params.type;
  if (type === undefined || type === null || type === "default") return { theta };
  if (typeof type !== "string") throw new BitsmithError(`must be a string, got ${JSON.stringify(type)}`, { file, field: sub("rope_type") });

  const originalContextLength = optionalInteger(params, "original_max_position_embeddings", file, 1, sub("original_max_position_embeddings"));
  if (type.toLowerCase() === "llama3") {
    return {
      theta,
      scaling: {
        type: "llama3",
        factor: num("factor") ?? LLAMA3_ROPE_DEFAULTS.factor,
        lowFreqFactor: num("low_freq_factor") ?? LLAMA3_ROPE_DEFAULTS.lowFreqFactor,
        highFreqFactor: num("high_freq_factor") ?? LLAMA3_ROPE_DEFAULTS.highFreqFactor,
        originalContextLength,
      },
    };
  }
  const factor = num("factor");
  // llama.cpp writes linear and yarn scaling only when a factor is given.
  if ((type === "linear" || type === "yarn") && factor === undefined) return { theta };
  if (type === "yarn" && originalContextLength === undefined) {
    throw new BitsmithError("is missing (yarn rope scaling needs it)", { file, field: sub("original_max_position_embeddings") });
  }
  return { theta, scaling: { type, factor: factor ?? 1, originalContextLength } };
}

/** Parses config.json of a llama, mistral or qwen2 model. `file` names it in errors. */
export function parseHfConfig(text: string, file = "config.json"): HfConfig {
  const raw = parseJsonObject(text, file);
  const modelType = modelTypeOf(raw, file);
  const defaults = DEFAULTS[modelType];

  const hiddenSize = requiredInteger(raw, "hidden_size", file);
  const numHeads = requiredInteger(raw, "num_attention_heads", file);
  const kvRaw = raw.num_key_value_heads;
  const numKvHeads =
    kvRaw === undefined && defaults.kvHeadsIfAbsent !== "heads" ? defaults.kvHeadsIfAbsent : (optionalInteger(raw, "num_key_value_heads", file) ?? numHeads);
  if (numKvHeads > numHeads || numHeads % numKvHeads !== 0) {
    throw new BitsmithError(`${numKvHeads} must divide num_attention_heads ${numHeads}`, { file, field: "num_key_value_heads" });
  }
  let headDim = optionalInteger(raw, "head_dim", file);
  if (headDim === undefined) {
    if (hiddenSize % numHeads !== 0) {
      throw new BitsmithError(`hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${numHeads} and head_dim is not given`, { file, field: "head_dim" });
    }
    headDim = hiddenSize / numHeads;
  }
  const rope = ropeOf(raw, file);
  const ropeTheta = rope.theta ?? optionalNumber(raw, "rope_theta", file) ?? DEFAULT_ROPE_THETA;

  const hparams: LlamaHParams = {
    vocabSize: requiredInteger(raw, "vocab_size", file),
    hiddenSize,
    intermediateSize: requiredInteger(raw, "intermediate_size", file),
    numLayers: requiredInteger(raw, "num_hidden_layers", file),
    numHeads,
    numKvHeads,
    headDim,
    contextLength: optionalInteger(raw, "max_position_embeddings", file) ?? defaults.contextLength,
    rmsNormEps: optionalNumber(raw, "rms_norm_eps", file) ?? DEFAULT_RMS_NORM_EPS,
    ropeTheta,
    tieWordEmbeddings: optionalBoolean(raw, "tie_word_embeddings", file) ?? false,
    // Qwen2 always has q/k/v biases; llama has them (and an o_proj bias) when attention_bias is set.
    attentionBias: modelType === "qwen2" || (modelType === "llama" && (optionalBoolean(raw, "attention_bias", file) ?? false)),
  };
  if (rope.scaling) hparams.ropeScaling = rope.scaling;

  const config: HfConfig = { modelType, architecture: modelType === "qwen2" ? "qwen2" : "llama", hparams, raw };
  const slidingWindow = modelType === "mistral" ? optionalInteger(raw, "sliding_window", file) : undefined;
  if (slidingWindow !== undefined) config.slidingWindow = slidingWindow;
  return config;
}
