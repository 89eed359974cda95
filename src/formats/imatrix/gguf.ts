/**
 * The GGUF importance-matrix file llama-imatrix writes by default: keys general.type = "imatrix",
 * imatrix.datasets (strings), imatrix.chunk_count and imatrix.chunk_size (u32); per weight matrix, in name
 * order, an F32 tensor `<name>.in_sum2` (ne = [columns, experts]) and an F32 tensor `<name>.counts`
 * (ne = [1, experts]). Newer llama-imatrix versions may add `<name>.in_sum` (mean activations), which
 * quantization does not use and which is skipped here.
 */
import { BitsmithError, tensorType } from "../../core/index.js";
import type { TensorRef } from "../../core/index.js";
import { bytesOf } from "../../numeric/byte-views.js";
import { GgufValueType, GgufWriter, getNumber, getString, getStringArray, gguf } from "../gguf/index.js";
import type { GgufFile } from "../gguf/index.js";
import { imatrixToGgufLayout, sortedEntries } from "./imatrix.js";
import type { Imatrix, ImatrixEntry } from "./imatrix.js";

const SUM2 = ".in_sum2";
const COUNTS = ".counts";
const F32 = tensorType("F32")!;

async function readF32(t: TensorRef, file: string): Promise<Float32Array> {
  if (t.type.name !== "F32") throw new BitsmithError(`is ${t.type.name}, expected F32`, { file, field: `tensor "${t.name}"` });
  // A copy, so the values are aligned whatever the tensor's offset.
  const values = new Float32Array(t.byteLength / 4);
  bytesOf(values).set(await t.read());
  return values;
}

export async function readImatrixGguf(gguf: GgufFile): Promise<Imatrix> {
  const file = gguf.source.name;
  const type = getString(gguf.metadata, "general.type", file);
  if (type !== undefined && type !== "imatrix") throw new BitsmithError(`is "${type}": not an importance matrix`, { file, field: "general.type" });
  const chunkCount = getNumber(gguf.metadata, "imatrix.chunk_count", file);
  if (chunkCount === undefined) throw new BitsmithError("missing: not an importance matrix file", { file, field: "imatrix.chunk_count" });
  const chunkSize = getNumber(gguf.metadata, "imatrix.chunk_size", file);
  const datasets = getStringArray(gguf.metadata, "imatrix.datasets", file) ?? [];

  const pairs = new Map<string, { sums?: TensorRef; counts?: TensorRef }>();
  for (const t of gguf.tensors) {
    const suffix = t.name.endsWith(SUM2) ? SUM2 : t.name.endsWith(COUNTS) ? COUNTS : undefined;
    if (suffix === undefined) continue;
    const name = t.name.slice(0, -suffix.length);
    const pair = pairs.get(name) ?? {};
    if (suffix === SUM2) pair.sums = t;
    else pair.counts = t;
    pairs.set(name, pair);
  }
  if (pairs.size === 0) throw new BitsmithError("holds no <name>.in_sum2 / <name>.counts tensors: not an importance matrix", { file });

  const entries: [string, ImatrixEntry][] = [];
  for (const [name, pair] of pairs) {
    const field = `entry "${name}"`;
    if (!pair.sums || !pair.counts) throw new BitsmithError(`has ${pair.sums ? "in_sum2 but no counts" : "counts but no in_sum2"}`, { file, field });
    const sums = await readF32(pair.sums, file);
    const counts = Float64Array.from(await readF32(pair.counts, file));
    const experts = pair.sums.shape.length > 1 ? pair.sums.shape[pair.sums.shape.length - 2]! : 1;
    if (counts.length === 0 || counts.length !== experts || sums.length % counts.length !== 0) {
      throw new BitsmithError(`${sums.length} sums in ${experts} rows do not match ${counts.length} counts`, { file, field });
    }
    entries.push([name, { sums, counts }]);
  }
  return { source: file, layout: "gguf", entries: sortedEntries(entries), datasets, chunkCount, chunkSize };
}

/**
 * A GgufWriter holding `imatrix` as llama-imatrix writes it. Legacy data is converted as llama-imatrix would,
 * with `chunkSize` (the -c of that run) standing in for the size the .dat does not record.
 */
export function imatrixGgufWriter(imatrix: Imatrix, chunkSize?: number): GgufWriter {
  const size = imatrix.chunkSize ?? chunkSize;
  if (size === undefined) throw new BitsmithError("the chunk size is unknown (a .dat file does not record it); pass llama-imatrix's -c", { file: imatrix.source });
  const data = imatrixToGgufLayout(imatrix, size);
  const w = new GgufWriter();
  w.set("general.type", gguf.str("imatrix"));
  w.set("imatrix.datasets", gguf.arr(GgufValueType.STRING, [...data.datasets]));
  w.set("imatrix.chunk_count", gguf.u32(data.chunkCount));
  w.set("imatrix.chunk_size", gguf.u32(size));
  for (const [name, e] of data.entries) {
    const experts = e.counts.length;
    const columns = e.sums.length / experts;
    // ggml drops trailing dimensions of size 1, so a dense matrix's tensors are 1-D.
    const sumsShape = experts > 1 ? [experts, columns] : [columns];
    const countsShape = experts > 1 ? [experts, 1] : [1];
    // llama-imatrix keeps counts as integers and writes them as F32.
    const counts = Float32Array.from(e.counts, (c) => Math.round(c));
    w.addTensor({ name: name + SUM2, type: F32, shape: sumsShape, data: async () => bytesOf(e.sums) });
    w.addTensor({ name: name + COUNTS, type: F32, shape: countsShape, data: async () => bytesOf(counts) });
  }
  return w;
}
