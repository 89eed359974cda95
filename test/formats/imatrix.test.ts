/**
 * llama.cpp importance matrices against llama-imatrix's own two files of the same run
 * (reference/models/imatrix-ts-head20k.gguf and .dat, section 5 of the reference README).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { MemoryByteSink, MemoryByteSource, MemoryFileSystem } from "../../src/core/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import {
  encodeImatrixDat,
  imatrixGgufWriter,
  imatrixToGgufLayout,
  importanceWeights,
  readImatrix,
  readImatrixDat,
} from "../../src/formats/imatrix/index.js";
import type { Imatrix } from "../../src/formats/imatrix/index.js";
import { REFERENCE } from "../helpers/paths.js";

const GGUF_FILE = path.join(REFERENCE, "models", "imatrix-ts-head20k.gguf");
const DAT_FILE = path.join(REFERENCE, "models", "imatrix-ts-head20k.dat");
/** llama-imatrix ran with -c 128: the chunk size the .dat does not record. */
const CHUNK_SIZE = 128;

async function ggufBytes(imatrix: Imatrix, chunkSize?: number): Promise<Buffer> {
  const sink = new MemoryByteSink();
  await imatrixGgufWriter(imatrix, chunkSize).write(sink);
  return Buffer.from(sink.bytes());
}

test("both readers see llama-imatrix's run: 35 matrices, 75 chunks of 128 tokens, the dataset", async () => {
  const g = await readImatrix(nodeFileSystem, GGUF_FILE);
  const d = await readImatrix(nodeFileSystem, DAT_FILE);
  for (const m of [g, d]) {
    assert.equal(m.entries.size, 35);
    assert.equal(m.chunkCount, 75);
    assert.deepEqual(m.datasets, ["text/ts-head20k.txt"]);
    assert.ok(!m.entries.has("token_embd.weight") && !m.entries.has("output.weight"));
  }
  assert.equal(g.layout, "gguf");
  assert.equal(d.layout, "legacy");
  assert.equal(g.chunkSize, CHUNK_SIZE);
  // Every matrix saw every token: 75 chunks x 128.
  for (const e of g.entries.values()) assert.deepEqual([...e.counts], [75 * 128]);
  for (const e of d.entries.values()) assert.deepEqual([...e.counts], [75]);
  assert.deepEqual([...g.entries.keys()], [...d.entries.keys()]);
});

test("the importance values (in_sum2 / counts and value / ncall) agree between the two files", async () => {
  const g = await readImatrix(nodeFileSystem, GGUF_FILE);
  const d = await readImatrix(nodeFileSystem, DAT_FILE);
  for (const name of g.entries.keys()) {
    const a = importanceWeights(g, name)!;
    const b = importanceWeights(d, name)!;
    assert.equal(a.length, b.length, name);
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= 1e-6 * Math.abs(a[i]!), `${name}[${i}]: ${a[i]} vs ${b[i]}`);
  }
  assert.equal(importanceWeights(g, "output.weight"), undefined);
});

test("GGUF -> .dat is byte-identical to llama-imatrix's .dat; GGUF -> GGUF to its GGUF", async () => {
  const g = await readImatrix(nodeFileSystem, GGUF_FILE);
  assert.ok(Buffer.from(encodeImatrixDat(g)).equals(readFileSync(DAT_FILE)));
  assert.ok((await ggufBytes(g)).equals(readFileSync(GGUF_FILE)));
});

test(".dat -> GGUF matches llama-imatrix's GGUF up to the rounding the .dat's stored means carry, and goes back to the same .dat", async () => {
  const d = await readImatrix(nodeFileSystem, DAT_FILE);
  assert.ok(Buffer.from(encodeImatrixDat(d)).equals(readFileSync(DAT_FILE)), ".dat -> .dat");
  const asGguf = await ggufBytes(d, CHUNK_SIZE);
  const fs = new MemoryFileSystem();
  fs.put("x.gguf", asGguf);
  const fromDat = await readImatrix(fs, "x.gguf");
  const ref = await readImatrix(nodeFileSystem, GGUF_FILE);
  // Everything but in_sum2 is exact: keys, order, counts, chunk count and size, datasets.
  assert.equal(asGguf.length, readFileSync(GGUF_FILE).length);
  assert.deepEqual({ ...fromDat, source: "", entries: undefined }, { ...ref, source: "", entries: undefined });
  let differing = 0;
  for (const [name, e] of ref.entries) {
    const f = fromDat.entries.get(name)!;
    assert.deepEqual([...f.counts], [...e.counts], name);
    for (let i = 0; i < e.sums.length; i++) {
      // The .dat stores fl(fl(sum / 9600) * 75); sum is recovered to within an ulp or so.
      assert.ok(Math.abs(f.sums[i]! - e.sums[i]!) <= 2 ** -22 * Math.abs(e.sums[i]!), `${name}[${i}]`);
      if (f.sums[i] !== e.sums[i]) differing++;
    }
  }
  assert.ok(differing > 0, "the .dat loses the last bits of some sums (otherwise this test should ask for byte identity)");
  // .dat -> GGUF -> .dat gives llama-imatrix's .dat back.
  assert.ok(Buffer.from(encodeImatrixDat(imatrixToGgufLayout(d, CHUNK_SIZE))).equals(readFileSync(DAT_FILE)));
});

test("corrupt imatrix files are refused naming the file and the field", async () => {
  const dat = readFileSync(DAT_FILE);
  const bad = (bytes: Uint8Array) => readImatrixDat(new MemoryByteSource(bytes, "bad.dat"));
  await assert.rejects(bad(dat.subarray(0, 1000)), /bad\.dat: entry "blk\.0\.attn_v\.weight": 64 values do not fit in the file/);
  const huge = Buffer.from(dat);
  huge.writeInt32LE(1 << 30, 0);
  await assert.rejects(bad(huge), /bad\.dat: entry count: 1073741824 entries cannot be right/);
  await assert.rejects(bad(Buffer.concat([dat, Buffer.from([1, 2, 3])])), /bad\.dat: trailer: 3 unexpected bytes/);
  const model = new MemoryFileSystem();
  model.put("m.gguf", readFileSync(path.join(REFERENCE, "models", "stories260K-f32.gguf")));
  await assert.rejects(readImatrix(model, "m.gguf"), /m\.gguf: imatrix\.chunk_count: missing: not an importance matrix file/);
});
