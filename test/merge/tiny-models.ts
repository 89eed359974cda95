/**
 * Tiny Llama-shaped GGUF models in memory whose every value says where it came from, for checking which
 * input tensor lands where in a merge: value = `tag` + layer·0.01 (+ row / column offsets for the
 * token-indexed matrices, so rows can be told apart).
 */
import { GgufValueType, GgufWriter, gguf } from "../../src/formats/gguf/index.js";
import { MemoryFileSystem, tensorType } from "../../src/core/index.js";
import { openModel } from "../../src/model/open-model.js";
import { toFloat32 } from "../../src/codecs/convert.js";

export const HIDDEN = 4;
const F32 = tensorType("F32")!;

export interface TinyModel {
  path: string;
  tag: number;
  layers?: number;
  tokens?: string[];
  architecture?: string;
  /** Rows of blk.N.ffn_up.weight (default 2). */
  ffnRows?: number;
  /** Tensors to leave out. */
  omit?: string[];
}

export function embeddingValue(tag: number, row: number, col: number): number {
  return tag + row + col * 0.1;
}

export function layerValue(tag: number, layer: number): number {
  return tag + layer * 0.01;
}

export async function writeTinyModel(fs: MemoryFileSystem, m: TinyModel): Promise<void> {
  const layers = m.layers ?? 3;
  const tokens = m.tokens ?? ["a", "b", "c"];
  const arch = m.architecture ?? "llama";
  const w = new GgufWriter();
  w.set("general.architecture", gguf.str(arch));
  w.set("general.name", gguf.str(m.path));
  w.set(`${arch}.block_count`, gguf.u32(layers));
  w.set(`${arch}.context_length`, gguf.u32(16));
  w.set(`${arch}.embedding_length`, gguf.u32(HIDDEN));
  w.set(`${arch}.feed_forward_length`, gguf.u32(8));
  w.set(`${arch}.attention.head_count`, gguf.u32(2));
  w.set(`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(1e-5));
  w.set("tokenizer.ggml.model", gguf.str("llama"));
  w.set("tokenizer.ggml.tokens", gguf.arr(GgufValueType.STRING, tokens));
  const add = (name: string, shape: number[], value: (i: number) => number) => {
    if (m.omit?.includes(name)) return;
    const n = shape.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: n }, (_, i) => value(i));
    w.addTensor({ name, type: F32, shape, data: async () => new Uint8Array(values.buffer) });
  };
  const embedding = (i: number) => embeddingValue(m.tag, Math.floor(i / HIDDEN), i % HIDDEN);
  add("token_embd.weight", [tokens.length, HIDDEN], embedding);
  for (let l = 0; l < layers; l++) {
    add(`blk.${l}.attn_norm.weight`, [HIDDEN], () => layerValue(m.tag, l));
    add(`blk.${l}.ffn_up.weight`, [m.ffnRows ?? 2, HIDDEN], () => layerValue(m.tag, l));
  }
  add("output_norm.weight", [HIDDEN], () => m.tag + 0.5);
  add("output.weight", [tokens.length, HIDDEN], embedding);
  await w.write(await fs.create(m.path));
}

/** Every tensor of a model file as float32 values, by name. */
export async function readTensors(fs: MemoryFileSystem, path: string): Promise<{ values: Map<string, number[]>; metadata: ReadonlyMap<string, unknown> }> {
  const model = await openModel(fs, path);
  const values = new Map<string, number[]>();
  for (const t of model.tensors) values.set(t.name, [...toFloat32(await t.read(), t.type, t.shape.reduce((a, b) => a * b, 1))]);
  await model.close();
  return { values, metadata: model.metadata };
}
