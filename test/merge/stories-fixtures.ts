/**
 * Real weights for merge tests: stories260K as a Hugging Face directory (converted from llama.cpp's f32 GGUF),
 * and "fine-tuned" copies of it: every tensor plus a seeded Gaussian delta of 2% of its RMS, written with the
 * safetensors writer (nothing of the merge code is involved).
 */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import { toFloat32 } from "../../src/codecs/convert.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { writeSafetensors } from "../../src/formats/safetensors/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { REFERENCE } from "../helpers/paths.js";

export const STORIES_GGUF = path.join(REFERENCE, "models", "stories260K-f32.gguf");
const F32 = tensorType("F32")!;

export async function storiesHf(dir: string): Promise<void> {
  const model = await openModel(nodeFileSystem, STORIES_GGUF);
  await convertToHf(model, nodeFileSystem, dir);
  await model.close();
}

/** Every tensor of a model as float32 values, by name. */
export async function tensorValues(modelPath: string): Promise<Map<string, Float32Array>> {
  const model = await openModel(nodeFileSystem, modelPath);
  const out = new Map<string, Float32Array>();
  for (const t of model.tensors) out.set(t.name, toFloat32(await t.read(), t.type, t.shape.reduce((a, b) => a * b, 1)));
  await model.close();
  return out;
}

export interface PerturbOptions {
  seed: number;
  /** Delta standard deviation relative to each tensor's RMS. */
  relative?: number;
  /** Extra rows appended to the embedding and output matrices (a larger vocabulary), with vocab_size raised. */
  extraRows?: number;
  /** Tensors stored with another shape of the same size (a model that does not fit the others). */
  reshape?: Record<string, number[]>;
}

/** A copy of the Hugging Face directory `src` with every tensor perturbed. */
export async function perturbedCopy(src: string, dst: string, options: PerturbOptions): Promise<void> {
  const values = await tensorValues(src);
  const rng = new SeededRandom(options.seed);
  const relative = options.relative ?? 0.02;
  const extra = options.extraRows ?? 0;
  const model = await openModel(nodeFileSystem, src);
  const shapes = new Map(model.tensors.map((t) => [t.name, t.shape]));
  await model.close();
  mkdirSync(dst, { recursive: true });
  const tensors = [...values].map(([name, v]) => {
    const rms = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    const data = v.map((x) => x + relative * rms * rng.normal());
    const [rows, width] = shapes.get(name)!;
    if (options.reshape?.[name]) return { name, data, shape: options.reshape[name]! };
    if (extra === 0 || (name !== "model.embed_tokens.weight" && name !== "lm_head.weight")) return { name, data, shape: shapes.get(name)! };
    const grown = Float32Array.from({ length: data.length + extra * width! }, (_, i) => (i < data.length ? data[i]! : 0.01 * rng.normal()));
    return { name, data: grown, shape: [rows! + extra, width!] };
  });
  await writeSafetensors(
    nodeFileSystem,
    path.join(dst, "model.safetensors"),
    tensors.map((t) => ({ name: t.name, type: F32, shape: t.shape, read: async () => new Uint8Array(t.data.buffer) })),
    new Map([["format", "pt"]]),
  );
  for (const f of readdirSync(src)) if (f !== "model.safetensors") copyFileSync(path.join(src, f), path.join(dst, f));
  if (extra > 0) {
    const config = JSON.parse(readFileSync(path.join(dst, "config.json"), "utf8"));
    config.vocab_size += extra;
    writeFileSync(path.join(dst, "config.json"), JSON.stringify(config, null, 2));
  }
}
