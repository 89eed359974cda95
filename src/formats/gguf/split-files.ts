/**
 * Split GGUF models as llama.cpp's gguf-split writes them: files `<prefix>-00001-of-00003.gguf`, ..., each a
 * complete GGUF holding some of the tensors. The first holds all metadata; every one holds `split.no` (u16,
 * 0-based), `split.count` (u16) and `split.tensors.count` (i32, tensors over all shards). llama.cpp checks these
 * types strictly.
 */
export const GGUF_KEY_SPLIT_NO = "split.no";
export const GGUF_KEY_SPLIT_COUNT = "split.count";
export const GGUF_KEY_SPLIT_TENSORS_COUNT = "split.tensors.count";

export function isSplitKey(key: string): boolean {
  return key === GGUF_KEY_SPLIT_NO || key === GGUF_KEY_SPLIT_COUNT || key === GGUF_KEY_SPLIT_TENSORS_COUNT;
}

/** Path of shard `index` (0-based) of `count`: llama.cpp's `%s-%05d-of-%05d.gguf` with a 1-based number. */
export function ggufSplitPath(prefix: string, index: number, count: number): string {
  return `${prefix}-${String(index + 1).padStart(5, "0")}-of-${String(count).padStart(5, "0")}.gguf`;
}

/** Splits a shard path into prefix, 0-based index and count; undefined when it is not named like one. */
export function parseGgufSplitPath(path: string): { prefix: string; index: number; count: number } | undefined {
  const m = /^(.*)-(\d{5,})-of-(\d{5,})\.gguf$/.exec(path);
  if (!m) return undefined;
  return { prefix: m[1]!, index: Number(m[2]) - 1, count: Number(m[3]) };
}
