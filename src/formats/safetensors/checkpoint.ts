/**
 * Opening a safetensors checkpoint: one file, or shards listed by a `model.safetensors.index.json`, found by path
 * or by directory. Only headers are read here; tensor bytes are read when a TensorRef is asked for them.
 */
import { BitsmithError } from "../../core/index.js";
import type { ByteSource, FileSystemLike } from "../../core/index.js";
import { readSafetensorsHeader } from "./header.js";
import type { SafetensorsTensorRef } from "./header.js";
import { INDEX_FILE_NAME, parseSafetensorsIndex, SINGLE_FILE_NAME } from "./index-file.js";

export interface SafetensorsCheckpoint {
  /** Tensors shard by shard (shards in file-name order), each shard's in the order of its data. */
  readonly tensors: readonly SafetensorsTensorRef[];
  /** `__metadata__`; for shards, their union (the first shard's value wins where they differ). */
  readonly metadata: ReadonlyMap<string, string>;
  /** Paths of the safetensors files read. */
  readonly files: readonly string[];
  /** Closes every file. */
  close(): Promise<void>;
}

async function closeAll(sources: readonly ByteSource[]): Promise<void> {
  await Promise.all(sources.map((s) => s.close?.()));
}

function checkpoint(tensors: SafetensorsTensorRef[], metadata: Map<string, string>, sources: ByteSource[]): SafetensorsCheckpoint {
  return { tensors, metadata, files: sources.map((s) => s.name), close: () => closeAll(sources) };
}

export async function openSafetensorsFile(fs: FileSystemLike, path: string): Promise<SafetensorsCheckpoint> {
  const source = await fs.open(path);
  try {
    const { tensors, metadata } = await readSafetensorsHeader(source);
    return checkpoint(tensors, metadata, [source]);
  } catch (e) {
    await closeAll([source]);
    throw e;
  }
}

/**
 * Opens the shards an index names and checks that index and shards agree: every shard exists, every tensor the
 * index maps to a shard is in it, and every tensor a shard holds is mapped to that shard.
 */
async function openIndexedCheckpoint(fs: FileSystemLike, indexPath: string): Promise<SafetensorsCheckpoint> {
  const weightMap = parseSafetensorsIndex(await fs.readText(indexPath), indexPath);
  const namesByShard = new Map<string, Set<string>>();
  for (const [name, shard] of weightMap) {
    const names = namesByShard.get(shard) ?? new Set<string>();
    namesByShard.set(shard, names.add(name));
  }
  const dir = fs.dirname(indexPath);
  const mapField = (name: string) => `weight_map[${JSON.stringify(name)}]`;
  const sources: ByteSource[] = [];
  const tensors: SafetensorsTensorRef[] = [];
  const metadata = new Map<string, string>();
  try {
    for (const shard of [...namesByShard.keys()].sort()) {
      const listed = namesByShard.get(shard)!;
      const path = fs.join(dir, shard);
      if (!(await fs.exists(path))) {
        const first = listed.values().next().value!;
        throw new BitsmithError(`names shard "${shard}", which does not exist`, { file: indexPath, field: mapField(first) });
      }
      const source = await fs.open(path);
      sources.push(source);
      const header = await readSafetensorsHeader(source);
      for (const t of header.tensors) {
        if (!listed.has(t.name)) {
          const elsewhere = weightMap.get(t.name);
          const why = elsewhere === undefined ? `${indexPath} does not list it` : `${indexPath} maps it to "${elsewhere}"`;
          throw new BitsmithError(`tensor is in this shard but ${why}`, { file: path, field: t.name });
        }
      }
      const present = new Set(header.tensors.map((t) => t.name));
      for (const name of listed) {
        if (!present.has(name)) throw new BitsmithError(`tensor is missing from shard "${shard}"`, { file: indexPath, field: mapField(name) });
      }
      tensors.push(...header.tensors);
      for (const [k, v] of header.metadata) if (!metadata.has(k)) metadata.set(k, v);
    }
  } catch (e) {
    await closeAll(sources);
    throw e;
  }
  return checkpoint(tensors, metadata, sources);
}

/**
 * Opens a checkpoint from a `.safetensors` file, a `.json` index, or a directory holding `model.safetensors` or
 * `model.safetensors.index.json` (the single file is preferred when both exist, as transformers does).
 */
export async function openSafetensorsCheckpoint(fs: FileSystemLike, pathOrDir: string): Promise<SafetensorsCheckpoint> {
  if (await fs.isDirectory(pathOrDir)) {
    const single = fs.join(pathOrDir, SINGLE_FILE_NAME);
    if (await fs.exists(single)) return openSafetensorsFile(fs, single);
    const index = fs.join(pathOrDir, INDEX_FILE_NAME);
    if (await fs.exists(index)) return openIndexedCheckpoint(fs, index);
    throw new BitsmithError(`directory holds neither ${SINGLE_FILE_NAME} nor ${INDEX_FILE_NAME}`, { file: pathOrDir });
  }
  return pathOrDir.endsWith(".json") ? openIndexedCheckpoint(fs, pathOrDir) : openSafetensorsFile(fs, pathOrDir);
}
