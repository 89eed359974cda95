/**
 * Task vectors as files: `diff` writes tuned − base for every tensor as a checkpoint of its own (a Hugging Face
 * directory with the tuned model's config.json and tokenizer, float32 by default), `apply` adds scale × a
 * task vector to a base model. Both stream one tensor at a time; tensors are paired by name (in the shared
 * naming, so a GGUF base takes a Hugging Face task vector) and must have equal shapes.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import type { FileSystemLike, ModelSource, Progress, TensorRef, TensorTypeInfo } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import { elementCount } from "../convert/tensor-transcode.js";
import { isIgnoredHfTensor } from "../model/llama-names.js";
import { computedTensorRef, derivedModelSource } from "./derived-source.js";
import { closeModels, openModels } from "./merge.js";
import { tokenizerSideFiles, writeModelOutput } from "./model-output.js";
import { inSharedNaming } from "./naming.js";

const F32 = tensorType("F32")!;

export interface TaskVectorOptions {
  /** Element type of the output tensors; default F32 for a task vector, the base's type when applying one. */
  outType?: TensorTypeInfo;
  maxShardSize?: number;
  progress?: Progress;
}

interface Pair {
  first: TensorRef;
  second: TensorRef;
}

/** Tensors of `a` and `b` paired by name; any tensor without a partner or with another shape is an error. */
function pairTensors(a: ModelSource, b: ModelSource): Pair[] {
  const byName = new Map(b.tensors.filter((t) => !isIgnoredHfTensor(t.name)).map((t) => [t.name, t]));
  const pairs: Pair[] = [];
  for (const first of a.tensors) {
    if (isIgnoredHfTensor(first.name)) continue;
    const second = byName.get(first.name);
    if (!second) throw new BitsmithError(`tensor is in ${a.name} but missing from ${b.name}`, { field: first.name });
    if (first.shape.join(",") !== second.shape.join(",")) {
      throw new BitsmithError(`shapes differ: ${a.name} [${first.shape.join(", ")}], ${b.name} [${second.shape.join(", ")}]`, { field: first.name });
    }
    byName.delete(first.name);
    pairs.push({ first, second });
  }
  const extra = byName.keys().next();
  if (!extra.done) throw new BitsmithError(`tensor is in ${b.name} but missing from ${a.name}`, { field: extra.value });
  return pairs;
}

async function decode(ref: TensorRef): Promise<Float32Array> {
  return toFloat32(await ref.read(), ref.type, elementCount(ref.shape));
}

function keptType(t: TensorTypeInfo): TensorTypeInfo {
  return ["F32", "F16", "BF16"].includes(t.name) ? t : F32;
}

/** tuned − base as a model described like `tuned`. */
export function taskVectorSource(tuned: ModelSource, base: ModelSource, outType: TensorTypeInfo = F32): ModelSource {
  const { naming, views } = inSharedNaming([tuned, base]);
  const tensors = pairTensors(views[0]!, views[1]!).map(({ first, second }) =>
    computedTensorRef({
      name: first.name,
      shape: first.shape,
      type: outType,
      async compute() {
        const delta = await decode(first);
        const b = await decode(second);
        for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! - b[i]!;
        return delta;
      },
    }),
  );
  return derivedModelSource(views[0]!, naming, tensors, { outType }, async () => {});
}

/** base + scale × delta as a model described like `base`. */
export function appliedTaskVectorSource(base: ModelSource, delta: ModelSource, scale: number, outType?: TensorTypeInfo): ModelSource {
  const { naming, views } = inSharedNaming([base, delta]);
  const tensors = pairTensors(views[0]!, views[1]!).map(({ first, second }) =>
    computedTensorRef({
      name: first.name,
      shape: first.shape,
      type: outType ?? keptType(first.type),
      async compute() {
        const out = await decode(first);
        const d = await decode(second);
        for (let i = 0; i < out.length; i++) out[i] = out[i]! + scale * d[i]!;
        return out;
      },
    }),
  );
  return derivedModelSource(views[0]!, naming, tensors, { outType }, async () => {});
}

async function withTwo<T>(fs: FileSystemLike, a: string, b: string, fn: (a: ModelSource, b: ModelSource) => Promise<T>): Promise<T> {
  const models = await openModels(fs, [a, b]);
  try {
    return await fn(models.get(a)!, models.get(b)!);
  } finally {
    await closeModels(models);
  }
}

/** `bitsmith diff`: writes tuned − base to `out`. */
export async function diffModels(fs: FileSystemLike, tunedPath: string, basePath: string, out: string, options: TaskVectorOptions = {}): Promise<string[]> {
  return withTwo(fs, tunedPath, basePath, async (tuned, base) => {
    const delta = taskVectorSource(tuned, base, options.outType);
    const sideFiles = delta.format === "hf" ? await tokenizerSideFiles(fs, tuned) : undefined;
    return writeModelOutput(fs, delta, out, { maxShardSize: options.maxShardSize, progress: options.progress, label: "diff", sideFiles });
  });
}

/** `bitsmith apply`: writes base + scale × delta to `out`. */
export async function applyTaskVector(
  fs: FileSystemLike,
  basePath: string,
  deltaPath: string,
  scale: number,
  out: string,
  options: TaskVectorOptions = {},
): Promise<string[]> {
  return withTwo(fs, basePath, deltaPath, async (base, delta) => {
    const model = appliedTaskVectorSource(base, delta, scale, options.outType);
    const sideFiles = model.format === "hf" ? await tokenizerSideFiles(fs, base) : undefined;
    return writeModelOutput(fs, model, out, { maxShardSize: options.maxShardSize, progress: options.progress, label: "apply", sideFiles });
  });
}
