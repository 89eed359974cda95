/**
 * Any Llama-family checkpoint to GGUF, streamed: one tensor is read, re-encoded and written at a time, so
 * peak memory is about the largest tensor, not the model.
 */
import { silentProgress } from "../core/index.js";
import type { FileSystemLike, ModelSource, Progress } from "../core/index.js";
import { GgufWriter } from "../formats/gguf/index.js";
import type { GgufSplitLimits, GgufValue } from "../formats/gguf/index.js";
import { gguf } from "../formats/gguf/index.js";
import { ggufTensors } from "../model/gguf-view.js";
import { FILE_TYPES, hfGgufMetadata, llama2cGgufMetadata } from "./gguf-metadata.js";
import { outputTensorType } from "./outtype.js";
import type { OutType } from "./outtype.js";
import { transcode } from "./tensor-transcode.js";

export interface ConvertToGgufOptions {
  outtype?: OutType;
  progress?: Progress;
  /** Write gguf-split shards instead of one file. */
  split?: GgufSplitLimits;
}

export interface ConvertResult {
  files: string[];
  tensors: number;
}

/** The writer's key/values: the converter's own for llama2.c and HF sources, the source's own for GGUF. */
function metadataFor(source: ModelSource, fileType: number | undefined): [string, GgufValue][] {
  if (source.format === "llama2c") return llama2cGgufMetadata(source.info, source.name);
  if (source.format === "gguf") {
    const kv = [...(source.metadata as ReadonlyMap<string, GgufValue>)];
    if (fileType === undefined) return kv;
    const at = kv.findIndex(([k]) => k === "general.file_type");
    if (at >= 0) kv[at] = ["general.file_type", gguf.u32(fileType)];
    return kv;
  }
  return hfGgufMetadata(source.info, source.name, fileType);
}

export async function convertToGguf(source: ModelSource, fs: FileSystemLike, outPath: string, options: ConvertToGgufOptions = {}): Promise<ConvertResult> {
  const outtype = options.outtype ?? "auto";
  const progress = options.progress ?? silentProgress;
  const tensors = ggufTensors(source);
  const plan = tensors.map((t) => ({ ref: t, type: outputTensorType(t, outtype) }));
  const fileType = outtype === "auto" ? undefined : FILE_TYPES[outtype.toUpperCase()];

  const writer = new GgufWriter();
  for (const [k, v] of metadataFor(source, fileType)) writer.set(k, v);
  for (const { ref, type } of plan) {
    writer.addTensor({
      name: ref.name,
      type,
      shape: ref.shape,
      data: async () => {
        const bytes = transcode(await ref.read(), ref.type, type, ref.shape);
        progress.advance(ref.byteLength, ref.name);
        return bytes;
      },
    });
  }
  progress.start("convert", plan.reduce((a, p) => a + p.ref.byteLength, 0), "B");
  let files: string[];
  if (options.split) {
    const prefix = outPath.replace(/\.gguf$/, "");
    files = await writer.writeSplits(fs, prefix, options.split);
  } else {
    await writer.write(await fs.create(outPath));
    files = [outPath];
  }
  progress.finish();
  return { files, tensors: plan.length };
}
