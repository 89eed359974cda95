/**
 * The output half every GGUF-producing command shares (convert, quantize): the key/values a source starts
 * from, and a streaming write of tensors that are encoded on demand, one at a time, with progress counted in
 * source bytes. Output is one file, gguf-split shards by size limits, or shards assigned per tensor; nothing
 * becomes visible unless every file was written.
 */
import { silentProgress } from "../core/index.js";
import type { ByteSink, FileSystemLike, ModelSource, Progress, TensorTypeInfo } from "../core/index.js";
import { GGUF_KEY_SPLIT_COUNT, GGUF_KEY_SPLIT_NO, GGUF_KEY_SPLIT_TENSORS_COUNT, GgufWriter, gguf, ggufSplitPath } from "../formats/gguf/index.js";
import type { GgufSplitLimits, GgufValue } from "../formats/gguf/index.js";
import { hfGgufMetadata, llama2cGgufMetadata } from "./gguf-metadata.js";

export type GgufKv = [string, GgufValue];

/**
 * The key/values of `source` in GGUF: llama.cpp's converters' own for llama2.c and HF sources, the file's own
 * for GGUF (general.file_type replaced in place when `fileType` is given).
 */
export function sourceGgufMetadata(source: ModelSource, fileType?: number): GgufKv[] {
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

export interface GgufOutputTensor {
  readonly name: string;
  readonly type: TensorTypeInfo;
  /** Outermost first. */
  readonly shape: readonly number[];
  /** Bytes of the source this tensor is made from: what progress counts. */
  readonly sourceBytes: number;
  /**
   * Produces the tensor's bytes. May report progress as it goes through `advance` (source bytes done); whatever
   * it does not report is counted when it returns.
   */
  readonly encode: (advance: (sourceBytes: number) => void) => Promise<Uint8Array>;
  /** The 0-based output file of this tensor, with `shards: "per-tensor"`. */
  readonly shard?: number;
}

export interface GgufOutputOptions {
  readonly progress?: Progress;
  /** Progress label ("convert", "quantize"). */
  readonly label: string;
  /**
   * Several files: gguf-split's shards by limits (convert --split-max-*), or "per-tensor" for the files named by
   * each tensor's `shard` (llama-quantize --keep-split: file k gets `<prefix>-0000k-of-0000n.gguf`, the first
   * all key/values, every file split.no, split.count and split.tensors.count in that order when n > 1).
   */
  readonly shards?: GgufSplitLimits | "per-tensor";
}

/** Writes the tensors in order and returns the files written. */
export async function writeGgufOutput(
  fs: FileSystemLike,
  outPath: string,
  kv: readonly GgufKv[],
  tensors: readonly GgufOutputTensor[],
  options: GgufOutputOptions,
): Promise<string[]> {
  const progress = options.progress ?? silentProgress;
  const prefix = outPath.replace(/\.gguf$/, "");
  const spec = (t: GgufOutputTensor) => ({
    name: t.name,
    type: t.type,
    shape: t.shape,
    data: async () => {
      let reported = 0;
      const bytes = await t.encode((n) => {
        reported += n;
        progress.advance(n, t.name);
      });
      if (reported < t.sourceBytes) progress.advance(t.sourceBytes - reported, t.name);
      return bytes;
    },
  });

  progress.start(options.label, tensors.reduce((a, t) => a + t.sourceBytes, 0), "B");
  let files: string[];
  if (options.shards === "per-tensor") {
    files = await writePerTensorShards(fs, prefix, kv, tensors, spec);
  } else {
    const writer = new GgufWriter();
    for (const [k, v] of kv) writer.set(k, v);
    for (const t of tensors) writer.addTensor(spec(t));
    if (options.shards) {
      files = await writer.writeSplits(fs, prefix, options.shards);
    } else {
      await writer.write(await fs.create(outPath));
      files = [outPath];
    }
  }
  progress.finish();
  return files;
}

async function writePerTensorShards(
  fs: FileSystemLike,
  prefix: string,
  kv: readonly GgufKv[],
  tensors: readonly GgufOutputTensor[],
  spec: (t: GgufOutputTensor) => Parameters<GgufWriter["addTensor"]>[0],
): Promise<string[]> {
  const count = Math.max(1, ...tensors.map((t) => (t.shard ?? 0) + 1));
  const writers = Array.from({ length: count }, () => new GgufWriter());
  for (const [k, v] of kv) writers[0]!.set(k, v);
  if (count > 1) {
    writers.forEach((w, i) => {
      w.set(GGUF_KEY_SPLIT_NO, gguf.u16(i));
      w.set(GGUF_KEY_SPLIT_COUNT, gguf.u16(count));
      w.set(GGUF_KEY_SPLIT_TENSORS_COUNT, gguf.i32(tensors.length));
    });
  }
  for (const t of tensors) writers[t.shard ?? 0]!.addTensor(spec(t));
  const paths = writers.map((_, i) => ggufSplitPath(prefix, i, count));
  // Each file is committed only after all were written: a failure leaves none of them.
  const sinks: ByteSink[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const sink = await fs.create(paths[i]!);
      sinks.push(sink);
      await writers[i]!.write(deferCommit(sink));
    }
    for (const sink of sinks) await sink.commit();
  } catch (e) {
    for (const sink of sinks) await sink.abort().catch(() => undefined);
    throw e;
  }
  return paths;
}

/** `sink` whose commit waits for the caller (GgufWriter.write commits as soon as its file is complete). */
function deferCommit(sink: ByteSink): ByteSink {
  return {
    name: sink.name,
    get position() {
      return sink.position;
    },
    write: (chunk) => sink.write(chunk),
    commit: async () => undefined,
    abort: () => sink.abort(),
  };
}
