/**
 * Corrupt and hostile GGUF inputs: each must fail with a BitsmithError naming the file and the field, after
 * reading no more than the file holds (a lying length must never become an allocation).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { BitsmithError, MemoryByteSource } from "../../src/core/index.js";
import { GgufValueType as T, readGguf } from "../../src/formats/gguf/index.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";
import { RawGguf } from "./gguf-raw.js";

const NAME = "bad.gguf";
const F32 = 0;
const Q4_0 = 2;

/** A source that remembers the longest read, to show nothing larger than the file was requested. */
class WatchedSource extends MemoryByteSource {
  longestRead = 0;
  override async read(offset: number, length: number): Promise<Uint8Array> {
    this.longestRead = Math.max(this.longestRead, length);
    return super.read(offset, length);
  }
}

async function rejects(bytes: Uint8Array, field: string | RegExp, message?: RegExp): Promise<BitsmithError> {
  const source = new WatchedSource(bytes, NAME);
  let error: unknown;
  try {
    await readGguf(source);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof BitsmithError, `expected a BitsmithError, got ${String(error)}`);
  assert.equal(error.file, NAME);
  if (typeof field === "string") assert.equal(error.field, field, error.message);
  else assert.match(error.field ?? "", field, error.message);
  if (message) assert.match(error.message, message);
  assert.ok(source.longestRead <= bytes.length);
  return error;
}

/** A valid file with the given KVs (already encoded) and tensors [name, ne, type, offset], plus `data` bytes. */
function gguf(kvs: (r: RawGguf) => number, tensors: [string, number[], number, number | bigint][], dataBytes = 0): Uint8Array {
  const kvPart = new RawGguf();
  const nKv = kvs(kvPart);
  const r = new RawGguf().header(tensors.length, nKv).bytes(kvPart.build());
  for (const [name, ne, type, offset] of tensors) {
    r.str(name).u32(ne.length);
    for (const d of ne) r.i64(d);
    r.i32(type).u64(offset);
  }
  if (tensors.length > 0) r.pad();
  return r.bytes(new Uint8Array(dataBytes)).build();
}
const noKv = () => 0;

test("valid minimal files read (the baseline the corrupt cases start from)", async () => {
  const g = await readGguf(new MemoryByteSource(gguf(noKv, [["a", [4, 2], F32, 0], ["b", [32], Q4_0, 32]], 64), NAME));
  assert.deepEqual(g.tensors.map((t) => [t.name, t.shape, t.byteLength]), [["a", [2, 4], 32], ["b", [32], 18]]);
  // n_dims = 0 is a scalar: ggml fills every ne with 1.
  const scalar = await readGguf(new MemoryByteSource(gguf(noKv, [["s", [], F32, 0]], 32), NAME));
  assert.deepEqual([scalar.tensors[0]!.shape, scalar.tensors[0]!.byteLength], [[], 4]);
  // Tensors may sit in any order and with gaps, as long as they are aligned, inside and apart.
  const gaps = await readGguf(new MemoryByteSource(gguf(noKv, [["a", [8], F32, 96], ["b", [8], F32, 0]], 128), NAME));
  assert.deepEqual(gaps.tensors.map((t) => t.offset), [96, 0]);
});

test("bad magic", async () => {
  const bytes = gguf(noKv, []);
  bytes.set([0x47, 0x47, 0x4d, 0x4c]); // "GGML"
  await rejects(bytes, "magic", /not a GGUF file/);
  await rejects(new Uint8Array([0x47, 0x47]), "magic", /truncated/);
});

test("unsupported versions", async () => {
  const withVersion = (v: number) => new RawGguf().ascii("GGUF").u32(v).i64(0).i64(0).build();
  await rejects(withVersion(1), "version", /version 1 is not supported/);
  await rejects(withVersion(0), "version", /version 0/);
  await rejects(withVersion(4), "version", /version 4 is not supported/);
  await rejects(withVersion(0x03000000), "version", /big-endian/);
});

test("a real file truncated anywhere before its last tensor's end", { skip: !hasSharedData && "shared data not found" }, async () => {
  const whole = readFileSync(path.join(REFERENCE, "models", "stories260K-f32.gguf"));
  const g = await readGguf(new MemoryByteSource(whole, NAME));
  const cuts = new Set<number>();
  for (let i = 0; i < g.dataOffset; i += i < 1024 ? 1 : 7) cuts.add(i); // every byte of the fixed fields and first KVs
  for (const t of g.tensors) cuts.add(g.dataOffset + t.offset + t.byteLength - 1);
  cuts.add(g.dataOffset - 1);
  const started = performance.now();
  for (const cut of cuts) {
    const e = await rejects(whole.subarray(0, cut), /./);
    assert.ok(/truncated|outside|exceeds|ends/.test(e.message), `cut ${cut}: ${e.message}`);
  }
  assert.ok(cuts.size > 2500);
  // Only the last tensor's trailing padding may go missing without harm.
  const last = g.tensors.at(-1)!;
  await readGguf(new MemoryByteSource(whole.subarray(0, g.dataOffset + last.offset + last.byteLength), NAME));
  assert.ok(performance.now() - started < 20000);
});

test("string lengths beyond the file: 2^63 and just one byte too many", async () => {
  // (Each file has room for its entry counts, so the lengths themselves are what fails.)
  const room = new Uint8Array(32);
  const hugeKey = new RawGguf().header(0, 1).u64(1n << 63n).bytes(room).build();
  await rejects(hugeKey, "metadata 0 key", /string length 9223372036854775808 exceeds/);
  const hugeValue = new RawGguf().header(0, 1).str("k").i32(T.STRING).u64((1n << 64n) - 1n).ascii("abc").build();
  await rejects(hugeValue, 'metadata "k"', /exceeds/);
  const oneTooMany = new RawGguf().header(0, 1).str("k").i32(T.STRING).u64(4).ascii("abc").build();
  await rejects(oneTooMany, 'metadata "k"', /exceeds the 3 bytes left/);
  const hugeName = new RawGguf().header(1, 0).u64(1n << 63n).bytes(room).build();
  await rejects(hugeName, "tensor 0 name");
  const hugeElement = new RawGguf().header(0, 1).str("toks").i32(T.ARRAY).i32(T.STRING).u64(2).str("a").u64(1n << 62n).build();
  await rejects(hugeElement, 'metadata "toks"[1]', /exceeds/);
});

test("absurd array and entry counts", async () => {
  for (const [itemType, count] of [[T.UINT32, 1n << 62n], [T.STRING, 1n << 61n], [T.ARRAY, (1n << 64n) - 1n], [T.BOOL, 100n]] as const) {
    const bytes = new RawGguf().header(0, 1).str("a").i32(T.ARRAY).i32(itemType).u64(count).u32(0).build();
    await rejects(bytes, 'metadata "a"', /array length \d+ exceeds/);
  }
  await rejects(new RawGguf().header(0, 1n << 40n as unknown as number).build(), "metadata count", /exceeds/);
  await rejects(new RawGguf().ascii("GGUF").u32(3).i64(-1).i64(0).build(), "tensor count", /negative/);
  await rejects(new RawGguf().ascii("GGUF").u32(3).i64(1n << 50n).i64(0).build(), "tensor count", /exceeds/);
});

test("unknown value types, bad bools, bad UTF-8, empty, duplicate keys, deep nesting", async () => {
  await rejects(new RawGguf().header(0, 1).str("k").i32(13).u32(0).build(), 'metadata "k"', /unknown value type 13/);
  await rejects(new RawGguf().header(0, 1).str("k").i32(-1).u32(0).build(), 'metadata "k"', /unknown value type -1/);
  await rejects(new RawGguf().header(0, 1).str("k").i32(T.ARRAY).i32(99).u64(1).u32(0).build(), 'metadata "k"', /unknown array item type 99/);
  await rejects(new RawGguf().header(0, 1).str("k").i32(T.BOOL).u8(2).build(), 'metadata "k"', /bool byte is 2/);
  await rejects(new RawGguf().header(0, 1).str("k").i32(T.ARRAY).i32(T.BOOL).u64(2).u8(1).u8(7).build(), 'metadata "k"[1]');
  await rejects(new RawGguf().header(0, 1).u64(2).bytes([0xc3, 0x28]).i32(T.UINT8).u8(0).build(), "metadata 0 key", /UTF-8/);
  await rejects(new RawGguf().header(0, 1).str("").i32(T.UINT8).u8(0).build(), "metadata 0 key", /empty/);
  const dup = new RawGguf().header(0, 2).str("k").i32(T.UINT8).u8(0).str("k").i32(T.UINT8).u8(1).build();
  await rejects(dup, 'metadata "k"', /duplicate key/);
  const deep = new RawGguf().header(0, 1).str("k").i32(T.ARRAY);
  for (let i = 0; i < 20; i++) deep.i32(T.ARRAY).u64(1);
  await rejects(deep.i32(T.UINT8).u64(0).build(), /^metadata "k"(\[0\])+$/, /nested/);
});

test("general.alignment must be a u32 power of two, and is honoured", async () => {
  await rejects(gguf((r) => (r.str("general.alignment").i32(T.UINT64).u64(32), 1), []), "general.alignment", /UINT32/);
  await rejects(gguf((r) => (r.str("general.alignment").i32(T.UINT32).u32(48), 1), []), "general.alignment", /power of two/);
  await rejects(gguf((r) => (r.str("general.alignment").i32(T.UINT32).u32(0), 1), []), "general.alignment", /power of two/);
  const kv = (r: RawGguf) => (r.str("general.alignment").i32(T.UINT32).u32(64), 1);
  // 32-aligned but not 64-aligned offset:
  await rejects(gguf(kv, [["a", [8], F32, 0], ["b", [8], F32, 32]], 128), 'tensor "b" offset', /multiple of the alignment 64/);
  const ok = new RawGguf().header(1, 1);
  kv(ok);
  ok.tensorInfo("a", [8], F32, 0).pad(64);
  const dataOffset = ok.size;
  const g = await readGguf(new MemoryByteSource(ok.bytes(new Uint8Array(64)).build(), NAME));
  assert.equal(g.alignment, 64);
  assert.equal(g.dataOffset, dataOffset);
  assert.equal(g.dataOffset % 64, 0);
});

test("tensor infos: unknown ggml types, dimensions, rows not whole blocks, duplicates", async () => {
  for (const id of [4, 5, 31, 36, 99, -1]) {
    await rejects(gguf(noKv, [["t", [32], id, 0]], 32), 'tensor "t" type', new RegExp(`unknown ggml type id ${id}`));
  }
  await rejects(gguf(noKv, [["t", [1, 1, 1, 1, 1], F32, 0]], 32), 'tensor "t" n_dims', /n_dims 5/);
  await rejects(gguf(noKv, [["t", [48, 2], Q4_0, 0]], 64), 'tensor "t" ne[0]', /48 is not a multiple of Q4_0's block size 32/);
  await rejects(gguf(noKv, [["t", [], Q4_0, 0]], 32), 'tensor "t" ne[0]', /block size/);
  await rejects(gguf(noKv, [["t", [4, -1], F32, 0]], 32), 'tensor "t" ne[1]', /not a valid dimension/);
  await rejects(gguf(noKv, [["t", [1 << 30, 1 << 30, 1 << 30], F32, 0]], 32), 'tensor "t" ne', /too large/);
  await rejects(gguf(noKv, [["t", [8], F32, 0], ["t", [8], F32, 32]], 64), 'tensor "t"', /duplicate tensor name/);
});

test("tensor data offsets: overlapping, misaligned, outside the file", async () => {
  await rejects(gguf(noKv, [["a", [16], F32, 0], ["b", [8], F32, 32]], 96), 'tensor "b" offset', /overlaps tensor "a"/);
  await rejects(gguf(noKv, [["a", [8], F32, 4]], 64), 'tensor "a" offset', /not a multiple of the alignment 32/);
  await rejects(gguf(noKv, [["a", [8], F32, 32]], 32), 'tensor "a" offset', /beyond the data section/);
  await rejects(gguf(noKv, [["a", [8], F32, 1n << 63n]], 32), 'tensor "a" offset', /outside the file/);
  await rejects(gguf(noKv, [["a", [8], F32, 0]], 31), 'tensor "a" offset', /beyond the data section/);
});
