/**
 * `mergeModels`: opens every model a configuration names, plans the merge (finding every input problem before
 * any output exists), and streams the merged model to its destination one tensor at a time.
 */
import type { FileSystemLike, ModelSource, Progress } from "../core/index.js";
import { openModel } from "../model/open-model.js";
import { referencedModels } from "./config.js";
import type { MergeConfig } from "./config.js";
import { computedTensorRef, derivedModelSource } from "./derived-source.js";
import { tokenizerSideFiles, writeModelOutput } from "./model-output.js";
import { planMerge } from "./plan.js";
import type { MergePlanOptions } from "./plan.js";

export interface MergeOptions extends MergePlanOptions {
  /** Largest safetensors shard of a Hugging Face output directory, in bytes. */
  maxShardSize?: number;
  progress?: Progress;
}

export interface MergeResult {
  files: string[];
  method: string;
  tensors: number;
  layers: number;
  /** Bytes of tensor data read from the inputs (every input tensor once). */
  inputBytes: number;
}

/** Opens each named model once; on failure closes those already open. */
export async function openModels(fs: FileSystemLike, names: readonly string[]): Promise<Map<string, ModelSource>> {
  const opened = new Map<string, ModelSource>();
  try {
    for (const name of names) if (!opened.has(name)) opened.set(name, await openModel(fs, name));
  } catch (e) {
    await closeModels(opened);
    throw e;
  }
  return opened;
}

export async function closeModels(models: ReadonlyMap<string, ModelSource>): Promise<void> {
  await Promise.all([...models.values()].map((m) => m.close()));
}

/** Merges as `config` says and writes the result to `out` (`.gguf`, `.safetensors` or a Hugging Face directory). */
export async function mergeModels(fs: FileSystemLike, config: MergeConfig, out: string, options: MergeOptions = {}): Promise<MergeResult> {
  const names = referencedModels(config);
  if (config.tokenizerSource?.kind === "model") names.push(config.tokenizerSource.model);
  const models = await openModels(fs, names);
  try {
    const plan = planMerge(config, models, options);
    const merged = derivedModelSource(plan.reference, plan.naming, plan.tensors.map(computedTensorRef), plan.changes, async () => {});
    const sideFiles = plan.naming === "hf" && !out.endsWith(".gguf") ? await tokenizerSideFiles(fs, plan.tokenizerDonor, plan.chatTemplate) : undefined;
    const files = await writeModelOutput(fs, merged, out, { maxShardSize: options.maxShardSize, progress: options.progress, label: "merge", sideFiles });
    const inputs = referencedModels(config).map((n) => models.get(n)!);
    return {
      files,
      method: plan.method.name,
      tensors: plan.tensors.length,
      layers: plan.changes.numLayers ?? 0,
      inputBytes: inputs.reduce((a, m) => a + m.tensors.reduce((b, t) => b + t.byteLength, 0), 0),
    };
  } finally {
    await closeModels(models);
  }
}
