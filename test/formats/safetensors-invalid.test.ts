/**
 * Bad safetensors input is refused with an error naming the file and the field, the way the reference loader
 * (safetensors/src/tensor.rs) refuses it, and failed writes leave nothing behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import * as path from "node:path";
import { BitsmithError, MemoryByteSource, tensorType } from "../../src/core/index.js";
import type { ByteSource } from "../../src/core/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { readSafetensorsHeader, writeSafetensors, writeShardedSafetensors } from "../../src/formats/safetensors/index.js";
import type { TensorToWrite } from "../../src/formats/safetensors/index.js";
import { rawFile, rejectsWith, tensorToWrite, withTempDir } from "./safetensors-helpers.js";

const FILE = "bad.safetensors";
const header = (bytes: Uint8Array) => readSafetensorsHeader(new MemoryByteSource(bytes, FILE));
const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const file = (tensors: Record<string, unknown>, dataBytes: number) => rawFile(JSON.stringify(tensors), dataBytes);

test("rejects a file shorter than the 8-byte header length", async () => {
  await rejectsWith(header(new Uint8Array(5)), FILE, "header length", /5 bytes, too short/);
});

test("rejects a header length larger than the file", async () => {
  await rejectsWith(header(rawFile("{}", 0, 1000n)), FILE, "header length", /header length 1000 exceeds the 2 bytes/);
  await rejectsWith(header(rawFile("{}", 0, 0xffffffffffffffffn)), FILE, "header length", /100 MB/);
});

test("rejects a header over 100 MB without reading or allocating it, even in a larger file", async () => {
  // A 1 GB source that only ever serves its first 8 bytes: any larger read would fail the test.
  const reads: number[] = [];
  const prefix = rawFile("", 0, 100_000_001n).subarray(0, 8);
  const huge: ByteSource = {
    name: FILE,
    size: 1e9,
    async read(offset, length) {
      reads.push(length);
      assert.ok(offset === 0 && length === 8, `unexpected read of ${length} bytes at ${offset}`);
      return prefix;
    },
  };
  await rejectsWith(readSafetensorsHeader(huge), FILE, "header length", /header length 100000001 exceeds the 100 MB limit/);
  assert.deepEqual(reads, [8]);
});

test("rejects a header that is not UTF-8, not JSON, or not a JSON object", async () => {
  const notUtf8 = rawFile("{}  ");
  notUtf8.set([0x7b, 0xff, 0xfe, 0x7d], 8);
  await rejectsWith(header(notUtf8), FILE, "header", /not valid UTF-8 JSON/);
  await rejectsWith(header(rawFile('{"a": {"dtype": ')), FILE, "header", /not valid UTF-8 JSON/);
  for (const text of ["[1, 2]", "null", '"F32"', "42"]) {
    await rejectsWith(header(rawFile(text)), FILE, "header", /not an object/);
  }
});

test("rejects __metadata__ that is not a string-to-string map", async () => {
  await rejectsWith(header(rawFile('{"__metadata__": {"format": 1}}')), FILE, "__metadata__", /"format" is 1, not a string/);
  await rejectsWith(header(rawFile('{"__metadata__": ["pt"]}')), FILE, "__metadata__", /must be an object/);
});

test("rejects overlapping tensors", async () => {
  const f = file({ a: entry("F32", [2], [0, 8]), b: entry("F32", [2], [4, 12]) }, 12);
  await rejectsWith(header(f), FILE, "b", /overlap the previous tensor, which ends at 8/);
});

test("rejects gaps between tensors and before the first one", async () => {
  const gap = file({ a: entry("F32", [1], [0, 4]), b: entry("F32", [1], [8, 12]) }, 12);
  await rejectsWith(header(gap), FILE, "b", /leave a gap: the previous tensor ends at 4/);
  const lead = file({ a: entry("F32", [1], [4, 8]) }, 8);
  await rejectsWith(header(lead), FILE, "a", /leave a gap: the previous tensor ends at 0/);
});

test("rejects offsets beyond the data (truncated file) and bytes no tensor covers", async () => {
  const f = file({ a: entry("F32", [2], [0, 8]), b: entry("F32", [4], [8, 24]) }, 24);
  await rejectsWith(header(f.subarray(0, f.length - 1)), FILE, "b", /point past the 23-byte data section: truncated/);
  const trailing = file({ a: entry("F32", [2], [0, 8]) }, 9);
  await rejectsWith(header(trailing), FILE, "data_offsets", /cover 8 bytes of the 9-byte data section/);
});

test("rejects unknown dtypes, including ggml types safetensors cannot hold", async () => {
  await rejectsWith(header(file({ w: entry("F128", [1], [0, 16]) }, 16)), FILE, "w", /unknown dtype "F128"/);
  await rejectsWith(header(file({ w: entry("Q4_0", [32], [0, 18]) }, 18)), FILE, "w", /unknown dtype "Q4_0"/);
  await rejectsWith(header(file({ w: entry("f32", [1], [0, 4]) }, 4)), FILE, "w", /unknown dtype "f32"/);
});

test("rejects a shape whose byte size does not match its offsets, without allocating it", async () => {
  await rejectsWith(header(file({ w: entry("F16", [3, 4], [0, 12]) }, 12)), FILE, "w", /\[3, 4\] of F16 needs 24 bytes but data_offsets span 12/);
  const huge = file({ w: entry("F64", [2 ** 40, 2 ** 40], [0, 8]) }, 8);
  await rejectsWith(header(huge), FILE, "w", /needs more than 2\^53 bytes/);
});

test("rejects negative, fractional or non-numeric dimensions and malformed offsets", async () => {
  for (const shape of [[-1, 4], [1.5], ["2"], 4, null]) {
    await rejectsWith(header(file({ w: entry("U8", shape, [0, 4]) }, 4)), FILE, "w", /shape .* is not a list of non-negative integers/);
  }
  for (const offsets of [[4, 0], [0], [0, 4, 8], [-4, 0], [0, 2 ** 60], "0-4"]) {
    await rejectsWith(header(file({ w: entry("U8", [4], offsets) }, 4)), FILE, "w", /data_offsets .* is not \[begin, end\]/);
  }
  await rejectsWith(header(rawFile('{"w": [1, 2]}')), FILE, "w", /entry is not an object/);
});

test("range reads outside a tensor are refused", async () => {
  const { tensors } = await header(file({ w: entry("U8", [4], [0, 4]) }, 4));
  await rejectsWith(tensors[0]!.read(2, 3), FILE, "w", /outside the tensor/);
  await rejectsWith(tensors[0]!.read(-1), FILE, "w", /outside the tensor/);
});

async function assertEmptyDir(dir: string): Promise<void> {
  assert.deepEqual(await readdir(dir), [], "no output left behind");
}

const ok = (name: string) => tensorToWrite(name, "U8", [4], new Uint8Array(4));

test("a tensor whose read() fails aborts the write and leaves no file", async () => {
  await withTempDir(async (dir) => {
    const out = path.join(dir, "model.safetensors");
    const failing: TensorToWrite = { ...ok("b"), read: () => Promise.reject(new Error("disk on fire")) };
    await assert.rejects(writeSafetensors(nodeFileSystem, out, [ok("a"), failing]), /disk on fire/);
    await assertEmptyDir(dir);
  });
});

test("a tensor whose read() returns the wrong number of bytes is named and nothing is left", async () => {
  await withTempDir(async (dir) => {
    const out = path.join(dir, "model.safetensors");
    const short = tensorToWrite("short", "F32", [2, 2], new Uint8Array(15));
    await rejectsWith(writeSafetensors(nodeFileSystem, out, [ok("a"), short]), out, "short", /returned 15 bytes; F32 \[2, 2\] takes 16/);
    await assertEmptyDir(dir);
  });
});

test("unstorable requests are refused before any output is created", async () => {
  await withTempDir(async (dir) => {
    const out = path.join(dir, "model.safetensors");
    await rejectsWith(writeSafetensors(nodeFileSystem, out, [ok("a"), ok("a")]), out, "a", /duplicate tensor name/);
    await rejectsWith(writeSafetensors(nodeFileSystem, out, [ok("__metadata__")]), out, "__metadata__", /reserved/);
    const q4: TensorToWrite = { ...ok("q"), type: tensorType("Q4_0")!, shape: [32] };
    await rejectsWith(writeSafetensors(nodeFileSystem, out, [q4]), out, "q", /Q4_0 has no safetensors dtype/);
    const negative = tensorToWrite("n", "F32", [-2], new Uint8Array(0));
    await rejectsWith(writeSafetensors(nodeFileSystem, out, [negative]), out, "n", /invalid shape \[-2\]/);
    await assertEmptyDir(dir);
  });
});

test("a sharded write failing in a later shard leaves no shard and no index", async () => {
  await withTempDir(async (dir) => {
    const failing: TensorToWrite = { ...ok("d"), read: () => Promise.reject(new BitsmithError("source vanished")) };
    const write = writeShardedSafetensors(nodeFileSystem, dir, [ok("a"), ok("b"), ok("c"), failing], { maxShardSize: 8 });
    await assert.rejects(write, /source vanished/);
    await assertEmptyDir(dir);
  });
});

test("a sharded write refuses a maxShardSize that is not a positive whole number", async () => {
  await withTempDir(async (dir) => {
    for (const maxShardSize of [0, -5, 1.5, Number.NaN]) {
      await rejectsWith(writeShardedSafetensors(nodeFileSystem, dir, [ok("a")], { maxShardSize }), dir, "maxShardSize", /positive whole number/);
    }
    await assertEmptyDir(dir);
  });
});
