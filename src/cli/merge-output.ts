/** Options and output handling shared by `merge`, `diff` and `apply`. */
import { rmdir, readdir, stat } from "node:fs/promises";
import { BitsmithError } from "../core/index.js";
import type { TensorTypeInfo } from "../core/index.js";
import { parseShardSize } from "../formats/safetensors/index.js";
import { parseDtypeName } from "../merge/index.js";

/**
 * A shard size as mergekit's --out-shard-size reads it (a whole number with K, M or B for thousand, million,
 * billion bytes: "5B" is 5 GB), or any size `--max-shard-size` takes ("2GB", "500MiB").
 */
export function parseOutShardSize(text: string, flag: string): number {
  const m = /^(\d+)([KMB])$/i.exec(text.trim());
  if (m) return Number(m[1]) * { K: 1e3, M: 1e6, B: 1e9 }[m[2]!.toUpperCase() as "K" | "M" | "B"];
  try {
    return parseShardSize(text);
  } catch {
    throw new BitsmithError(`cannot use "${text}" as a size; e.g. 5B (mergekit's 5 billion bytes), 2GB, 500MiB`, { field: flag });
  }
}

export function parseDtypeOption(text: string, flag: string): TensorTypeInfo {
  const type = parseDtypeName(text);
  if (!type) throw new BitsmithError(`must be float32, float16 or bfloat16 (or f32, f16, bf16), got "${text}"`, { field: flag });
  return type;
}

async function isEmptyDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory() && (await readdir(path)).length === 0;
  } catch {
    return false;
  }
}

/**
 * Runs `write`; when it fails, removes the output directory if this run created it and left it empty, so a failed
 * run leaves nothing behind (files themselves are written atomically).
 */
export async function withOutputCleanup<T>(out: string, write: () => Promise<T>): Promise<T> {
  const existed = await stat(out).then(
    () => true,
    () => false,
  );
  try {
    return await write();
  } catch (e) {
    if (!existed && (await isEmptyDirectory(out))) await rmdir(out);
    throw e;
  }
}
