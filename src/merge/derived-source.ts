/**
 * A model computed from others (a merge, a task vector, a model plus a task vector) as a ModelSource whose
 * tensors are computed when read, so the converters and writers stream it like any checkpoint: one output
 * tensor is computed, encoded and written at a time.
 *
 * Its description comes from a reference input (the base model, say), changed where the computation changes
 * the model: layer count, vocabulary, tokenizer, element type. In Hugging Face naming it is a Hugging Face
 * model (config.json key/values); in GGUF naming a GGUF model (GGUF key/values, generated from the reference's
 * description when the reference is not a GGUF file).
 */
import { BitsmithError, tensorByteSize } from "../core/index.js";
import type { ModelInfo, ModelSource, TensorRef, TensorTypeInfo, TokenizerInfo } from "../core/index.js";
import { fromFloat32 } from "../codecs/convert.js";
import { FILE_TYPES, hfGgufMetadata, tokenizerKvs } from "../convert/gguf-metadata.js";
import { gguf } from "../formats/gguf/index.js";
import type { GgufValue } from "../formats/gguf/index.js";
import type { Naming } from "./naming.js";

export interface ComputedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly type: TensorTypeInfo;
  compute(): Promise<Float32Array>;
}

export function computedTensorRef(t: ComputedTensor): TensorRef {
  const byteLength = tensorByteSize(t.type, t.shape);
  if (byteLength === undefined) throw new BitsmithError(`cannot store shape [${t.shape.join(", ")}] as ${t.type.name}`, { field: t.name });
  return {
    name: t.name,
    type: t.type,
    shape: t.shape,
    byteLength,
    async read(offset = 0, length = byteLength - offset) {
      const bytes = fromFloat32(await t.compute(), t.type);
      return offset === 0 && length === bytes.length ? bytes : bytes.subarray(offset, offset + length);
    },
  };
}

export interface DerivedChanges {
  numLayers?: number;
  vocabSize?: number;
  /** The output's vocabulary, when it is not the reference's (tokenizer_source, chat_template). */
  tokenizer?: { info: TokenizerInfo; from: ModelSource };
  /** Element type forced on every tensor (dtype/out_dtype): recorded as torch_dtype or general.file_type. */
  outType?: TensorTypeInfo;
}

const TORCH_DTYPE: Record<string, string> = { F32: "float32", F16: "float16", BF16: "bfloat16" };

function derivedInfo(reference: ModelInfo, changes: DerivedChanges): ModelInfo {
  const h = reference.hparams;
  return {
    ...reference,
    hparams: h && { ...h, numLayers: changes.numLayers ?? h.numLayers, vocabSize: changes.vocabSize ?? h.vocabSize },
    tokenizer: changes.tokenizer?.info ?? reference.tokenizer,
  };
}

/** config.json with the merge's changes (mergekit updates num_hidden_layers, vocab_size and torch_dtype). */
function hfMetadata(reference: ModelSource, changes: DerivedChanges): Map<string, unknown> {
  const config = new Map(reference.metadata);
  if (changes.numLayers !== undefined && config.has("num_hidden_layers")) config.set("num_hidden_layers", changes.numLayers);
  if (changes.vocabSize !== undefined && config.has("vocab_size")) config.set("vocab_size", changes.vocabSize);
  if (changes.outType && TORCH_DTYPE[changes.outType.name]) config.set("torch_dtype", TORCH_DTYPE[changes.outType.name]);
  return config;
}

/** The tokenizer.* key/values of `info`, taken verbatim from `from` when it is a GGUF file. */
function tokenizerMetadata(info: TokenizerInfo, from: ModelSource): [string, GgufValue][] {
  if (from.format === "gguf") {
    const kv = [...(from.metadata as ReadonlyMap<string, GgufValue>)].filter(([k]) => k.startsWith("tokenizer."));
    const rest = kv.filter(([k]) => k !== "tokenizer.chat_template");
    return info.chatTemplate === undefined ? rest : [...rest, ["tokenizer.chat_template", gguf.str(info.chatTemplate)]];
  }
  const { vocab, special } = tokenizerKvs(info);
  const head: [string, GgufValue][] = [["tokenizer.ggml.model", gguf.str(info.model)]];
  if (info.pre !== undefined) head.push(["tokenizer.ggml.pre", gguf.str(info.pre)]);
  return [...head, ...vocab, ...special];
}

/** GGUF key/values: the reference GGUF's with the changes, or generated from the derived description. */
function ggufMetadata(reference: ModelSource, info: ModelInfo, changes: DerivedChanges): Map<string, GgufValue> {
  const fileType = changes.outType ? FILE_TYPES[changes.outType.name] : undefined;
  if (reference.format !== "gguf") return new Map(hfGgufMetadata(info, reference.name, fileType));
  const arch = info.architecture;
  const kv = new Map(reference.metadata as ReadonlyMap<string, GgufValue>);
  if (changes.numLayers !== undefined) kv.set(`${arch}.block_count`, gguf.u32(changes.numLayers));
  if (changes.vocabSize !== undefined && kv.has(`${arch}.vocab_size`)) kv.set(`${arch}.vocab_size`, gguf.u32(changes.vocabSize));
  if (fileType !== undefined) kv.set("general.file_type", gguf.u32(fileType));
  if (!changes.tokenizer) return kv;
  const withoutTokenizer = [...kv].filter(([k]) => !k.startsWith("tokenizer."));
  return new Map([...withoutTokenizer, ...tokenizerMetadata(changes.tokenizer.info, changes.tokenizer.from)]);
}

/** A model made of `tensors`, described as `reference` (seen in `naming`) with `changes`. */
export function derivedModelSource(
  reference: ModelSource,
  naming: Naming,
  tensors: readonly TensorRef[],
  changes: DerivedChanges,
  close: () => Promise<void>,
): ModelSource {
  const info = derivedInfo(reference.info, changes);
  if (naming === "hf") {
    return { format: reference.format, name: reference.name, tensors, metadata: hfMetadata(reference, changes), info, close };
  }
  return { format: "gguf", name: reference.name, tensors, metadata: ggufMetadata(reference, info, changes), info, close };
}
