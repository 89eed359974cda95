/**
 * Any Llama-family checkpoint to GGUF, streamed: one tensor is read, re-encoded and written at a time, so
 * peak memory is about the largest tensor, not the model.
 */
import type { FileSystemLike, ModelSource, Progress } from "../core/index.js";
import type { GgufSplitLimits } from "../formats/gguf/index.js";
import { ggufTensors } from "../model/gguf-view.js";
import { FILE_TYPES } from "./gguf-metadata.js";
import { sourceGgufMetadata, writeGgufOutput } from "./gguf-output.js";
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

export async function convertToGguf(source: ModelSource, fs: FileSystemLike, outPath: string, options: ConvertToGgufOptions = {}): Promise<ConvertResult> {
  const outtype = options.outtype ?? "auto";
  const fileType = outtype === "auto" ? undefined : FILE_TYPES[outtype.toUpperCase()];
  const tensors = ggufTensors(source).map((ref) => {
    const type = outputTensorType(ref, outtype);
    return { name: ref.name, type, shape: ref.shape, sourceBytes: ref.byteLength, encode: async () => transcode(await ref.read(), ref.type, type, ref.shape) };
  });
  const files = await writeGgufOutput(fs, outPath, sourceGgufMetadata(source, fileType), tensors, { progress: options.progress, label: "convert", shards: options.split });
  return { files, tensors: tensors.length };
}
