/**
 * A GGUF model as a ModelSource, single-file or split: given the first shard of `<prefix>-00001-of-0000n.gguf`
 * it opens the others, checks their split keys, and lists all tensors in shard order.
 */
import { BitsmithError } from "../../core/index.js";
import type { FileSystemLike, ModelInfo, ModelSource } from "../../core/index.js";
import { ggufModelInfo } from "./model-info.js";
import { readGguf } from "./reader.js";
import type { GgufFile, GgufTensorRef } from "./reader.js";
import { GGUF_KEY_SPLIT_COUNT, GGUF_KEY_SPLIT_NO, GGUF_KEY_SPLIT_TENSORS_COUNT, ggufSplitPath, isSplitKey, parseGgufSplitPath } from "./split-files.js";
import { getNumber } from "./values.js";
import type { GgufMetadata } from "./values.js";

export interface GgufModel extends ModelSource {
  readonly format: "gguf";
  /** The first file's key/values without the split.* keys (they describe the files, not the model). */
  readonly metadata: GgufMetadata;
  /** All tensors of all shards, in shard order. */
  readonly tensors: readonly GgufTensorRef[];
  /** The files, in shard order (one for an unsplit model); their metadata is as stored. */
  readonly shards: readonly GgufFile[];
}

export async function openGgufModel(fs: FileSystemLike, path: string): Promise<GgufModel> {
  const shards: GgufFile[] = [];
  try {
    const first = await readGgufFile(fs, path);
    shards.push(first);
    const count = getNumber(first.metadata, GGUF_KEY_SPLIT_COUNT, path) ?? 1;
    if (count > 1) await openOtherShards(fs, path, first, count, shards);

    const tensors = shards.flatMap((s) => s.tensors);
    checkUniqueNames(tensors);
    const metadata: GgufMetadata = new Map([...first.metadata].filter(([k]) => !isSplitKey(k)));
    const info: ModelInfo = ggufModelInfo(metadata, tensors, path);
    return {
      format: "gguf",
      name: path,
      metadata,
      tensors,
      shards,
      info,
      async close() {
        await closeAll(shards);
      },
    };
  } catch (e) {
    await closeAll(shards);
    throw e;
  }
}

async function openOtherShards(fs: FileSystemLike, path: string, first: GgufFile, count: number, shards: GgufFile[]): Promise<void> {
  const no = getNumber(first.metadata, GGUF_KEY_SPLIT_NO, path);
  const firstName = `<prefix>-00001-of-${String(count).padStart(5, "0")}.gguf`;
  if (no !== 0) {
    throw new BitsmithError(`file is shard ${no === undefined ? "?" : no + 1} of a ${count}-file split model: open the first one, ${firstName}`, {
      file: path,
      field: GGUF_KEY_SPLIT_NO,
    });
  }
  const named = parseGgufSplitPath(path);
  if (named === undefined || named.index !== 0 || named.count !== count) {
    throw new BitsmithError(`first shard of a ${count}-file split model: it must be named ${firstName} to find the others`, {
      file: path,
      field: GGUF_KEY_SPLIT_COUNT,
    });
  }
  for (let i = 1; i < count; i++) {
    const shardPath = ggufSplitPath(named.prefix, i, count);
    if (!(await fs.exists(shardPath))) throw new BitsmithError(`shard ${i + 1} of ${count} is missing`, { file: shardPath });
    const shard = await readGgufFile(fs, shardPath);
    shards.push(shard);
    const shardNo = getNumber(shard.metadata, GGUF_KEY_SPLIT_NO, shardPath);
    if (shardNo !== i) throw new BitsmithError(`is ${shardNo}, expected ${i}`, { file: shardPath, field: GGUF_KEY_SPLIT_NO });
    const shardCount = getNumber(shard.metadata, GGUF_KEY_SPLIT_COUNT, shardPath);
    if (shardCount !== count) throw new BitsmithError(`is ${shardCount}, the first shard says ${count}`, { file: shardPath, field: GGUF_KEY_SPLIT_COUNT });
  }
  const expected = getNumber(first.metadata, GGUF_KEY_SPLIT_TENSORS_COUNT, path);
  const total = shards.reduce((n, s) => n + s.tensors.length, 0);
  if (expected !== undefined && expected !== total) {
    throw new BitsmithError(`says ${expected} tensors but the ${count} shards hold ${total}`, { file: path, field: GGUF_KEY_SPLIT_TENSORS_COUNT });
  }
}

/** readGguf on a file of `fs`, closing the file when it is not a valid GGUF. */
export async function readGgufFile(fs: FileSystemLike, path: string): Promise<GgufFile> {
  const source = await fs.open(path);
  try {
    return await readGguf(source);
  } catch (e) {
    await source.close?.();
    throw e;
  }
}

function checkUniqueNames(tensors: readonly GgufTensorRef[]): void {
  const seen = new Map<string, string>();
  for (const t of tensors) {
    const other = seen.get(t.name);
    if (other !== undefined) throw new BitsmithError(`duplicate tensor name, also in ${other}`, { file: t.file, field: `tensor "${t.name}"` });
    seen.set(t.name, t.file);
  }
}

async function closeAll(shards: readonly GgufFile[]): Promise<void> {
  for (const s of shards) await s.source.close?.();
}
