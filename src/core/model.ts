/**
 * The model abstraction every command works on: a source of named tensors, read lazily, plus what is known
 * about the architecture and tokenizer. See DESIGN.md: source -> plan -> transform -> sink.
 */
import type { TensorTypeInfo } from "./tensor-types.js";

export interface TensorRef {
  /** Name as the source stores it (GGUF `blk.0.attn_q.weight`, HF `model.layers.0.self_attn.q_proj.weight`). */
  readonly name: string;
  readonly type: TensorTypeInfo;
  /** Dimensions, outermost first (PyTorch/numpy order). The last is contiguous: GGUF's ne[0]. */
  readonly shape: readonly number[];
  readonly byteLength: number;
  /** Reads the tensor's raw bytes, or the byte range [offset, offset+length) of them. */
  read(offset?: number, length?: number): Promise<Uint8Array>;
}

/** Rope scaling as Hugging Face configs describe it (llama 3 uses type "llama3"). */
export interface RopeScaling {
  type: "linear" | "dynamic" | "yarn" | "llama3" | "longrope" | string;
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalContextLength?: number;
}

/** Hyperparameters of a Llama-family decoder (llama, mistral, qwen2). */
export interface LlamaHParams {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  contextLength: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling?: RopeScaling;
  tieWordEmbeddings: boolean;
  /** qwen2 has biases on q, k and v. */
  attentionBias: boolean;
}

/** Token types as llama.cpp numbers them (gguf tokenizer.ggml.token_type). */
export enum TokenType {
  Undefined = 0,
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

/** llama.cpp's LLAMA_TOKEN_NULL (-1) as the uint32 a GGUF special-token key holds. */
export const NO_TOKEN_ID = 0xffffffff;

/** A vocabulary in llama.cpp's terms (the `tokenizer.ggml.*` keys). */
export interface TokenizerInfo {
  /** tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), ... */
  model: string;
  /** tokenizer.ggml.pre: the pre-tokenizer name llama.cpp selects its splitting regex by. */
  pre?: string;
  tokens: string[];
  scores?: Float32Array;
  tokenTypes?: Int32Array;
  merges?: string[];
  /**
   * Special token ids as GGUF stores them (uint32). NO_TOKEN_ID means the key is written with llama.cpp's
   * LLAMA_TOKEN_NULL (the llama2.c converter does that for sep and pad); undefined means the key is absent.
   */
  bosId?: number;
  eosId?: number;
  unkId?: number;
  padId?: number;
  /** tokenizer.ggml.seperator_token_id (llama.cpp's spelling). */
  sepId?: number;
  clsId?: number;
  maskId?: number;
  eotId?: number;
  addBos?: boolean;
  addEos?: boolean;
  addSep?: boolean;
  addSpacePrefix?: boolean;
  chatTemplate?: string;
}

export interface ModelInfo {
  /** GGUF architecture name (general.architecture): "llama", "qwen2", ... Mistral is "llama" in GGUF. */
  architecture: string;
  /** The architecture as the source named it (HF model_type, e.g. "mistral"). */
  sourceArchitecture?: string;
  name?: string;
  hparams?: LlamaHParams;
  tokenizer?: TokenizerInfo;
}

export type SourceFormat = "gguf" | "safetensors" | "hf" | "llama2c";

export interface ModelSource {
  readonly format: SourceFormat;
  /** Path or label, for messages. */
  readonly name: string;
  /** Tensors in the source's own order. */
  readonly tensors: readonly TensorRef[];
  /** Format-level metadata: GGUF key/values, safetensors __metadata__, HF config.json. */
  readonly metadata: ReadonlyMap<string, unknown>;
  readonly info: ModelInfo;
  close(): Promise<void>;
}

export function findTensor(source: ModelSource, name: string): TensorRef | undefined {
  return source.tensors.find((t) => t.name === name);
}
