/**
 * Writing a checkpoint split into shards of at most `maxShardSize` bytes of tensor data, named and indexed as
 * Hugging Face does (see index-file.ts).
 */
import { BitsmithError, utf8Encoder } from "../../core/index.js";
import type { ByteSink, FileSystemLike } from "../../core/index.js";
import { encodeSafetensorsIndex, INDEX_FILE_NAME, shardFileName, SINGLE_FILE_NAME } from "./index-file.js";
import { sizeTensors, writeSafetensors, writeSafetensorsToSink } from "./writer.js";
import type { SizedTensor, TensorToWrite } from "./writer.js";

export interface ShardedWriteOptions {
  /** Largest amount of tensor data per shard, in bytes (see parseShardSize). */
  maxShardSize: number;
  /** `__metadata__` written into every shard. */
  metadata?: ReadonlyMap<string, string>;
}

/**
 * Splits tensors greedily in the given order: a shard is closed when the next tensor would take it past
 * `maxShardSize`; a tensor larger than that gets a shard of its own. This is huggingface_hub's rule except that
 * huggingface_hub files an oversized tensor in a shard ahead of the one being filled; keeping every tensor in
 * order keeps the output a plain function of the input order.
 */
export function planShards(tensors: readonly SizedTensor[], maxShardSize: number): SizedTensor[][] {
  const shards: SizedTensor[][] = [];
  let current: SizedTensor[] = [];
  let currentSize = 0;
  for (const t of tensors) {
    if (current.length > 0 && currentSize + t.byteLength > maxShardSize) {
      shards.push(current);
      current = [];
      currentSize = 0;
    }
    current.push(t);
    currentSize += t.byteLength;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/**
 * Writes `tensors` into directory `dir` (created if missing) as `model-0000i-of-0000n.safetensors` shards plus
 * `model.safetensors.index.json`. When everything fits in one shard it writes `model.safetensors` alone, as
 * huggingface_hub does. Returns the names of the files written. All shards stay uncommitted until the last
 * tensor is written, so a failure leaves no shard and no index behind.
 */
export async function writeShardedSafetensors(
  fs: FileSystemLike,
  dir: string,
  tensors: readonly TensorToWrite[],
  options: ShardedWriteOptions,
): Promise<string[]> {
  const { maxShardSize, metadata = new Map<string, string>() } = options;
  if (!Number.isSafeInteger(maxShardSize) || maxShardSize < 1) {
    throw new BitsmithError(`${maxShardSize} is not a positive whole number of bytes`, { file: dir, field: "maxShardSize" });
  }
  const indexPath = fs.join(dir, INDEX_FILE_NAME);
  const shards = planShards(sizeTensors(tensors, dir), maxShardSize);
  await fs.mkdir(dir);
  if (shards.length <= 1) {
    await writeSafetensors(fs, fs.join(dir, SINGLE_FILE_NAME), tensors, metadata);
    return [SINGLE_FILE_NAME];
  }

  const names = shards.map((_, i) => shardFileName(i, shards.length));
  const weightMap = new Map<string, string>();
  let totalSize = 0;
  const sinks: ByteSink[] = [];
  try {
    for (const [i, shard] of shards.entries()) {
      const sink = await fs.create(fs.join(dir, names[i]!));
      sinks.push(sink);
      await writeSafetensorsToSink(sink, shard, metadata);
      for (const { tensor, byteLength } of shard) {
        weightMap.set(tensor.name, names[i]!);
        totalSize += byteLength;
      }
    }
    const index = await fs.create(indexPath);
    sinks.push(index);
    await index.write(utf8Encoder.encode(encodeSafetensorsIndex(weightMap, totalSize)));
    // The index goes last: a reader finding it can trust every shard it names is in place.
    for (const sink of sinks) await sink.commit();
  } catch (e) {
    await Promise.all(sinks.map((s) => s.abort()));
    throw e;
  }
  return [...names, INDEX_FILE_NAME];
}
