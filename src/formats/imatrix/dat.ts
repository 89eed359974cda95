/**
 * The legacy importance-matrix file (`llama-imatrix --output-format dat`), little-endian:
 *
 *   i32 n_entries
 *   n_entries × { i32 name_len, name bytes, i32 ncall, i32 nval, f32[nval] values }   values = mean x² × ncall
 *   i32 chunk_count, i32 dataset_len, dataset bytes                                   (the trailer; optional)
 */
import { BitsmithError, utf8, utf8Encoder } from "../../core/index.js";
import type { ByteSource } from "../../core/index.js";
import { bytesOf } from "../../numeric/byte-views.js";
import { imatrixToLegacyLayout, sortedEntries } from "./imatrix.js";
import type { Imatrix, ImatrixEntry } from "./imatrix.js";

/** Reads a legacy .dat imatrix; every length is checked against the file size before anything is allocated. */
export async function readImatrixDat(source: ByteSource): Promise<Imatrix> {
  const file = source.name;
  const bytes = await source.read(0, source.size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const fail = (message: string, field: string) => new BitsmithError(message, { file, field });
  const i32 = (field: string): number => {
    if (at + 4 > bytes.length) throw fail(`file ends at byte ${bytes.length}, inside ${field}: truncated or not an imatrix file`, field);
    const v = view.getInt32(at, true);
    at += 4;
    return v;
  };
  const text = (length: number, field: string): string => {
    if (length < 0 || at + length > bytes.length) throw fail(`length ${length} runs past the end of the file (${bytes.length} bytes)`, field);
    try {
      return utf8.decode(bytes.subarray(at, (at += length)));
    } catch {
      throw fail("is not valid UTF-8", field);
    }
  };

  const count = i32("entry count");
  // Each entry takes at least 16 bytes (three i32 and one value), which bounds a lying count.
  if (count < 1 || count > (bytes.length - 4) / 16) throw fail(`${count} entries cannot be right for a ${bytes.length}-byte file`, "entry count");
  const entries: [string, ImatrixEntry][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const name = text(i32(`entry ${i} name length`), `entry ${i} name`);
    if (name === "") throw fail("empty name", `entry ${i} name`);
    if (seen.has(name)) throw fail("appears twice", `entry "${name}"`);
    seen.add(name);
    const field = `entry "${name}"`;
    const ncall = i32(`${field} ncall`);
    const nval = i32(`${field} value count`);
    if (nval < 1 || at + nval * 4 > bytes.length) throw fail(`${nval} values do not fit in the file`, field);
    // Copied as bytes, so every float keeps its exact bit pattern (the host is little-endian, as GGUF requires).
    const sums = new Float32Array(nval);
    bytesOf(sums).set(bytes.subarray(at, (at += nval * 4)));
    entries.push([name, { sums, counts: Float64Array.of(ncall) }]);
  }
  // The trailer came later in llama.cpp's history; files without it are still read.
  let chunkCount = 0;
  const datasets: string[] = [];
  if (at + 4 <= bytes.length) chunkCount = i32("chunk count");
  if (at + 4 <= bytes.length) datasets.push(text(i32("dataset name length"), "dataset name"));
  if (at !== bytes.length) throw fail(`${bytes.length - at} unexpected bytes after the data`, "trailer");
  return { source: file, layout: "legacy", entries: sortedEntries(entries), datasets, chunkCount };
}

/** The .dat bytes llama-imatrix writes for `imatrix` (GGUF-layout data is converted as it would convert it). */
export function encodeImatrixDat(imatrix: Imatrix): Uint8Array {
  const legacy = imatrixToLegacyLayout(imatrix);
  const names = [...legacy.entries.keys()].map((n) => utf8Encoder.encode(n));
  // llama-imatrix writes the dataset it was given, else the last one of the files it read.
  const dataset = utf8Encoder.encode(legacy.datasets.at(-1) ?? "");
  let size = 4 + 8 + dataset.length;
  let k = 0;
  for (const e of legacy.entries.values()) size += 12 + names[k++]!.length + 4 * e.sums.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const i32 = (v: number) => {
    view.setInt32(at, v, true);
    at += 4;
  };
  i32(legacy.entries.size);
  k = 0;
  for (const e of legacy.entries.values()) {
    const name = names[k++]!;
    i32(name.length);
    out.set(name, at);
    at += name.length;
    i32(e.counts[0]!);
    i32(e.sums.length);
    out.set(bytesOf(e.sums), at);
    at += e.sums.byteLength;
  }
  i32(legacy.chunkCount);
  i32(dataset.length);
  out.set(dataset, at);
  return out;
}
