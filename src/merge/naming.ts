/**
 * Tensor names as a merge sees them. Inputs must share one naming: Hugging Face names when every input is a
 * Hugging Face checkpoint, else llama.cpp's GGUF names (Hugging Face inputs then seen through ggufView, which
 * also interleaves their Q/K rows; every merge method treats a tensor as a bag of elements or rows, so that
 * reordering does not change the result).
 */
import { BitsmithError } from "../core/index.js";
import type { ModelSource, TensorRef } from "../core/index.js";
import { ggufView } from "../model/gguf-view.js";
import { ggufToHfName, isIgnoredHfTensor } from "../model/llama-names.js";

export type Naming = "hf" | "gguf";

export function namingOf(source: ModelSource): Naming {
  return source.format === "hf" || source.format === "safetensors" ? "hf" : "gguf";
}

/** The sources in one naming (see above), and which. */
export function inSharedNaming(sources: readonly ModelSource[]): { naming: Naming; views: ModelSource[] } {
  if (sources.every((s) => namingOf(s) === "hf")) return { naming: "hf", views: [...sources] };
  return { naming: "gguf", views: sources.map((s) => ggufView(s)) };
}

/** Names a filter is matched against: the tensor's own, and its Hugging Face name when it is a GGUF name. */
export function filterNames(name: string): string[] {
  const hf = ggufToHfName(name);
  return hf && hf !== name ? [name, hf] : [name];
}

const LAYER_NAME = /^(model\.layers\.|blk\.)(\d+)\.(.+)$/;

export interface LayerName {
  prefix: string;
  index: number;
  suffix: string;
}

/** `model.layers.3.mlp.up_proj.weight` -> {prefix "model.layers.", index 3, suffix "mlp.up_proj.weight"}. */
export function splitLayerName(name: string): LayerName | undefined {
  const m = LAYER_NAME.exec(name);
  return m ? { prefix: m[1]!, index: Number(m[2]), suffix: m[3]! } : undefined;
}

/** Token-indexed matrices, whose rows follow the vocabulary (mergekit's is_embed weights). */
export function isEmbeddingTensor(name: string): boolean {
  return ["model.embed_tokens.weight", "lm_head.weight", "token_embd.weight", "output.weight"].includes(name);
}

/** The input embedding: merged before the layers (mergekit's pre-weights). */
export function isInputEmbedding(name: string): boolean {
  return name === "model.embed_tokens.weight" || name === "token_embd.weight";
}

/** A model's tensors split into global ones and per-layer ones, the layer's tensors by suffix. */
export interface TensorIndex {
  readonly globals: Map<string, TensorRef>;
  readonly layers: Map<number, Map<string, TensorRef>>;
  /** Layer count: one more than the highest layer index. */
  readonly numLayers: number;
  /** Name prefix of layer tensors ("model.layers." or "blk."). */
  readonly layerPrefix: string;
}

export function indexTensors(source: ModelSource, naming: Naming): TensorIndex {
  const globals = new Map<string, TensorRef>();
  const layers = new Map<number, Map<string, TensorRef>>();
  for (const t of source.tensors) {
    if (isIgnoredHfTensor(t.name)) continue;
    const l = splitLayerName(t.name);
    if (!l) {
      globals.set(t.name, t);
      continue;
    }
    const layer = layers.get(l.index) ?? new Map<string, TensorRef>();
    layers.set(l.index, layer.set(l.suffix, t));
  }
  const numLayers = layers.size === 0 ? 0 : Math.max(...layers.keys()) + 1;
  for (let i = 0; i < numLayers; i++) {
    if (!layers.has(i)) throw new BitsmithError(`has layers up to ${numLayers - 1} but no tensor of layer ${i}`, { file: source.name });
  }
  return { globals, layers, numLayers, layerPrefix: naming === "hf" ? "model.layers." : "blk." };
}
