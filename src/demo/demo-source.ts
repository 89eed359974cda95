/**
 * "@demo": the generated demo checkpoint served from memory through the same Hugging Face reader as a real
 * directory, and `writeDemoModel` to put it on disk.
 */
import { MemoryFileSystem, tensorType, writeFiles } from "../core/index.js";
import type { FileSystemLike, ModelSource } from "../core/index.js";
import { fromFloat32 } from "../codecs/convert.js";
import { writeSafetensors } from "../formats/safetensors/index.js";
import { openHfModel } from "../model/hf-source.js";
import { DEMO_DIMENSIONS, buildSyntheticLlama } from "./demo-model.js";
import type { SyntheticLlamaDimensions } from "./demo-model.js";

export const DEMO_MODEL_ARG = "@demo";

const BF16 = tensorType("BF16")!;

/**
 * Writes the demo checkpoint (or a synthetic Llama of other dimensions) as a Hugging Face directory: text
 * files, then model.safetensors (BF16). Returns the names of the files written.
 */
export async function writeDemoModel(fs: FileSystemLike, dir: string, seed = 1, dims: SyntheticLlamaDimensions = DEMO_DIMENSIONS): Promise<string[]> {
  const demo = buildSyntheticLlama(dims, seed);
  const weights = "model.safetensors";
  await fs.mkdir(dir);
  await writeFiles(fs, dir, demo.files);
  await writeSafetensors(
    fs,
    fs.join(dir, weights),
    demo.tensors.map((t) => ({ name: t.name, type: BF16, shape: t.shape, read: async () => fromFloat32(t.values(), BF16) })),
    new Map([["format", "pt"]]),
  );
  return [...Object.keys(demo.files), weights];
}

export async function openDemoModel(seed = 1): Promise<ModelSource> {
  const fs = new MemoryFileSystem();
  await writeDemoModel(fs, "demo", seed);
  const model = await openHfModel(fs, "demo");
  return { ...model, name: DEMO_MODEL_ARG, close: () => model.close() };
}
