/**
 * llama.cpp importance matrices (llama-imatrix output): per weight matrix, statistics of the squared input
 * activations of each column, which llama-quantize uses to weight the quantization error. Two file layouts
 * exist and are kept apart because they store different numbers:
 *
 * - GGUF (current): `<name>.in_sum2` = the sum over all tokens of x² per column (one row per expert) and
 *   `<name>.counts` = the tokens summed per expert; the importance is in_sum2 / counts.
 * - legacy `.dat`: the mean of x² already multiplied by `ncall` (chunks seen), with `ncall`; the importance is
 *   value / ncall.
 *
 * Converting between them follows llama-imatrix (`--in-file x.dat -o y.gguf` and `--output-format dat`).
 */
import { BitsmithError } from "../../core/index.js";

export interface ImatrixEntry {
  /** GGUF layout: in_sum2, experts one after another. Legacy layout: the stored values (mean x² × ncall). */
  readonly sums: Float32Array;
  /** GGUF layout: tokens per expert (stored as F32). Legacy layout: one value, ncall. */
  readonly counts: Float64Array;
}

export type ImatrixLayout = "gguf" | "legacy";

export interface Imatrix {
  /** Where it came from (a path), for messages and for the quantized model's quantize.imatrix.file. */
  readonly source: string;
  readonly layout: ImatrixLayout;
  /** By weight name (e.g. "blk.0.attn_q.weight"), in name order. */
  readonly entries: ReadonlyMap<string, ImatrixEntry>;
  /** Text files the statistics were computed on. */
  readonly datasets: readonly string[];
  /** Chunks evaluated. */
  readonly chunkCount: number;
  /** Tokens per chunk (imatrix.chunk_size); the legacy layout does not record it. */
  readonly chunkSize?: number;
}

/** Entries in name order (std::map / std::sort order of llama-imatrix: byte order of the names). */
export function sortedEntries(entries: Iterable<[string, ImatrixEntry]>): Map<string, ImatrixEntry> {
  return new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The importance weights llama-quantize passes to the quantizer for `name` (one per column, expert after expert):
 * in_sum2 / counts in float32 (1 where an expert saw no tokens), or value / ncall for a legacy file.
 * Undefined when the matrix has no entry.
 */
export function importanceWeights(imatrix: Imatrix, name: string): Float32Array | undefined {
  const e = imatrix.entries.get(name);
  if (!e) return undefined;
  const out = new Float32Array(e.sums.length);
  if (imatrix.layout === "legacy") {
    const ncall = Math.fround(e.counts[0]!);
    for (let i = 0; i < out.length; i++) out[i] = ncall > 0 ? e.sums[i]! / ncall : e.sums[i]!;
    return out;
  }
  const perExpert = e.sums.length / e.counts.length;
  for (let j = 0; j < e.counts.length; j++) {
    const count = Math.fround(e.counts[j]!);
    for (let i = j * perExpert; i < (j + 1) * perExpert; i++) out[i] = count > 0 ? e.sums[i]! / count : 1;
  }
  return out;
}

/**
 * The GGUF layout of a legacy imatrix, as llama-imatrix rebuilds its state from a .dat file: sums = value ×
 * chunkSize, counts = ncall × chunkSize. The .dat does not record the chunk size; llama-imatrix takes its own
 * context size (-c), which must be passed here.
 */
export function imatrixToGgufLayout(imatrix: Imatrix, chunkSize: number): Imatrix {
  if (imatrix.layout === "gguf") return imatrix;
  checkChunkSize(chunkSize, imatrix.source);
  const entries = new Map<string, ImatrixEntry>();
  let maxCount = 0;
  for (const [name, e] of imatrix.entries) {
    const sums = new Float32Array(e.sums.length);
    for (let i = 0; i < sums.length; i++) sums[i] = e.sums[i]! * chunkSize;
    const count = e.counts[0]! * chunkSize;
    maxCount = Math.max(maxCount, count);
    entries.set(name, { sums, counts: Float64Array.of(count) });
  }
  return { ...imatrix, layout: "gguf", entries, chunkSize, chunkCount: Math.floor(maxCount / chunkSize) };
}

/**
 * The legacy layout of a GGUF imatrix, as llama-imatrix --output-format dat writes it: entries without any
 * tokens are left out; value = (in_sum2 / count) × ncall with ncall = ceil(max count / chunk size), in float32.
 */
export function imatrixToLegacyLayout(imatrix: Imatrix): Imatrix {
  if (imatrix.layout === "legacy") return imatrix;
  const chunkSize = imatrix.chunkSize;
  if (chunkSize === undefined) throw new BitsmithError("the chunk size (imatrix.chunk_size) is unknown", { file: imatrix.source });
  checkChunkSize(chunkSize, imatrix.source);
  const entries = new Map<string, ImatrixEntry>();
  let maxCount = 0;
  for (const [name, e] of imatrix.entries) {
    // llama-imatrix holds the counts as integers (rounded from the file's floats).
    const counts = Array.from(e.counts, (c) => Math.round(c));
    const most = Math.max(...counts);
    maxCount = Math.max(maxCount, most);
    if (most === 0) continue;
    const ncall = Math.floor((most + chunkSize - 1) / chunkSize);
    const perExpert = e.sums.length / counts.length;
    const values = new Float32Array(e.sums.length);
    for (let i = 0; i < values.length; i++) {
      let count = Math.fround(counts[Math.floor(i / perExpert)]!);
      let value = e.sums[i]!;
      if (count === 0) {
        // An expert without tokens: llama-imatrix stores 1.
        value = 1;
        count = 1;
      }
      values[i] = Math.fround(value / count) * ncall;
    }
    entries.set(name, { sums: values, counts: Float64Array.of(ncall) });
  }
  return { ...imatrix, layout: "legacy", entries, chunkCount: Math.floor(maxCount / chunkSize), chunkSize: undefined };
}

function checkChunkSize(chunkSize: number, file: string): void {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) throw new BitsmithError(`chunk size must be a positive integer, got ${chunkSize}`, { file });
}
