import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError, MemoryByteSink, MemoryByteSource } from "../../src/core/index.js";
import {
  GgufValueType as T,
  GgufWriter,
  getArray,
  getBool,
  getNumber,
  getNumberArray,
  getString,
  getStringArray,
  gguf,
  readGguf,
} from "../../src/formats/gguf/index.js";
import type { GgufValue } from "../../src/formats/gguf/index.js";
import { RawGguf } from "./gguf-raw.js";

const NAN_WITH_PAYLOAD = 0x7fc00001;

/** One KV of every scalar type, arrays of every item type, nested arrays, and one small tensor. */
function everyTypeFile(version = 3): { bytes: Uint8Array; expected: Map<string, GgufValue> } {
  const r = new RawGguf();
  const kvs: [string, (r: RawGguf) => void, GgufValue][] = [
    ["v.u8", (r) => r.i32(T.UINT8).u8(255), gguf.u8(255)],
    ["v.i8", (r) => r.i32(T.INT8).i8(-128), gguf.i8(-128)],
    ["v.u16", (r) => r.i32(T.UINT16).u16(65535), gguf.u16(65535)],
    ["v.i16", (r) => r.i32(T.INT16).i16(-32768), gguf.i16(-32768)],
    ["v.u32", (r) => r.i32(T.UINT32).u32(0xffffffff), gguf.u32(0xffffffff)],
    ["v.i32", (r) => r.i32(T.INT32).i32(-0x80000000), gguf.i32(-0x80000000)],
    ["v.f32", (r) => r.i32(T.FLOAT32).f32(1e-5), gguf.f32(1e-5)],
    ["v.bool", (r) => r.i32(T.BOOL).u8(1), gguf.bool(true)],
    ["v.str", (r) => r.i32(T.STRING).str("héllo ▁world 🦙"), gguf.str("héllo ▁world 🦙")],
    ["v.u64", (r) => r.i32(T.UINT64).u64((1n << 64n) - 1n), gguf.u64((1n << 64n) - 1n)],
    ["v.i64", (r) => r.i32(T.INT64).i64(-(1n << 63n)), gguf.i64(-(1n << 63n))],
    ["v.f64", (r) => r.i32(T.FLOAT64).f64(0.1), gguf.f64(0.1)],
    ["a.u8", (r) => r.i32(T.ARRAY).i32(T.UINT8).u64(3).u8(0).u8(7).u8(255), gguf.arr(T.UINT8, [0, 7, 255])],
    ["a.i8", (r) => r.i32(T.ARRAY).i32(T.INT8).u64(2).i8(-1).i8(5), gguf.arr(T.INT8, [-1, 5])],
    ["a.u16", (r) => r.i32(T.ARRAY).i32(T.UINT16).u64(1).u16(40000), gguf.arr(T.UINT16, [40000])],
    ["a.i16", (r) => r.i32(T.ARRAY).i32(T.INT16).u64(1).i16(-2), gguf.arr(T.INT16, [-2])],
    ["a.u32", (r) => r.i32(T.ARRAY).i32(T.UINT32).u64(2).u32(1).u32(0xfffffffe), gguf.arr(T.UINT32, [1, 0xfffffffe])],
    ["a.i32", (r) => r.i32(T.ARRAY).i32(T.INT32).u64(3).i32(2).i32(3).i32(6), gguf.arr(T.INT32, [2, 3, 6])],
    ["a.f32", (r) => r.i32(T.ARRAY).i32(T.FLOAT32).u64(2).f32(-1000).u32(NAN_WITH_PAYLOAD), gguf.arr(T.FLOAT32, new Float32Array(new Uint32Array([0xc47a0000, NAN_WITH_PAYLOAD]).buffer))],
    ["a.bool", (r) => r.i32(T.ARRAY).i32(T.BOOL).u64(3).u8(1).u8(0).u8(1), gguf.arr(T.BOOL, [true, false, true])],
    ["a.str", (r) => r.i32(T.ARRAY).i32(T.STRING).u64(4).str("").str("\uFEFF").str("<0x00>").str("Ġ t"), gguf.arr(T.STRING, ["", "\uFEFF", "<0x00>", "Ġ t"])],
    ["a.u64", (r) => r.i32(T.ARRAY).i32(T.UINT64).u64(1).u64(1n << 60n), gguf.arr(T.UINT64, [1n << 60n])],
    ["a.i64", (r) => r.i32(T.ARRAY).i32(T.INT64).u64(2).i64(-1).i64(5), gguf.arr(T.INT64, [-1, 5n])],
    ["a.f64", (r) => r.i32(T.ARRAY).i32(T.FLOAT64).u64(1).f64(Math.PI), gguf.arr(T.FLOAT64, [Math.PI])],
    ["a.empty", (r) => r.i32(T.ARRAY).i32(T.FLOAT32).u64(0), gguf.arr(T.FLOAT32, [])],
    [
      // An array of arrays: each item is item type + count + items, with no type tag of its own.
      "a.nested",
      (r) => r.i32(T.ARRAY).i32(T.ARRAY).u64(2).i32(T.INT32).u64(2).i32(1).i32(2).i32(T.ARRAY).u64(1).i32(T.STRING).u64(1).str("deep"),
      gguf.arr(T.ARRAY, [gguf.arr(T.INT32, [1, 2]), gguf.arr(T.ARRAY, [gguf.arr(T.STRING, ["deep"])])]),
    ],
  ];
  r.header(1, kvs.length, version);
  for (const [key, write] of kvs) {
    r.str(key);
    write(r);
  }
  r.tensorInfo("t", [2], 0, 0).pad().f32(1).f32(-2).pad();
  return { bytes: r.build(), expected: new Map(kvs.map(([k, , v]) => [k, v])) };
}

test("every value type reads with its type and writes back to the same bytes", async () => {
  const { bytes, expected } = everyTypeFile();
  const g = await readGguf(new MemoryByteSource(bytes, "every-type.gguf"));
  assert.equal(g.version, 3);
  assert.deepEqual([...g.metadata.keys()], [...expected.keys()]);
  for (const [k, v] of expected) assert.deepEqual(g.metadata.get(k), v, k);
  // Typed arrays keep float bit patterns (a NaN payload survives).
  const f32 = g.metadata.get("a.f32")!;
  assert.ok(f32.type === T.ARRAY && f32.value instanceof Float32Array);
  assert.equal(new Uint32Array(f32.value.buffer, f32.value.byteOffset, 2)[1], NAN_WITH_PAYLOAD);
  assert.deepEqual(Array.from(new Float32Array((await g.tensors[0]!.read()).slice().buffer)), [1, -2]);

  const sink = new MemoryByteSink();
  await GgufWriter.from(g).write(sink);
  assert.deepEqual(sink.bytes(), bytes);
});

test("a version 2 file reads like version 3 (the formats are the same little-endian layout)", async () => {
  const { bytes, expected } = everyTypeFile(2);
  const g = await readGguf(new MemoryByteSource(bytes, "v2.gguf"));
  assert.equal(g.version, 2);
  assert.equal(g.metadata.size, expected.size);
  assert.deepEqual(g.tensors[0]!.shape, [2]);
});

test("builders check ranges and types", () => {
  for (const bad of [() => gguf.u8(256), () => gguf.i8(-129), () => gguf.u16(-1), () => gguf.u32(1.5), () => gguf.i32(2 ** 31)]) {
    assert.throws(bad, BitsmithError);
  }
  assert.throws(() => gguf.u64(-1), BitsmithError);
  assert.throws(() => gguf.u64(2 ** 60), BitsmithError, "an unsafe number is refused; pass a bigint");
  assert.throws(() => gguf.i64(1n << 63n), BitsmithError);
  assert.throws(() => gguf.arr(T.UINT8, [1, 300]), BitsmithError);
  assert.deepEqual(gguf.u64(5), { type: T.UINT64, value: 5n });
  assert.equal(gguf.f32(0.1).value, Math.fround(0.1));
  // A hand-made value that lies about its contents is refused before it can be written wrapped.
  const w = new GgufWriter();
  assert.throws(() => w.set("x", { type: T.UINT8, value: 300 }), BitsmithError);
  assert.throws(() => w.set("x", { type: T.ARRAY, itemType: T.INT32, value: new Float32Array(1) } as unknown as GgufValue), BitsmithError);
  assert.throws(() => w.set("general.alignment", gguf.u32(48)), /power of two/);
  assert.throws(() => w.set("general.alignment", gguf.u64(64)), /UINT32/);
});

test("loose getters convert numbers and name the key of a wrong kind", () => {
  const meta = new Map<string, GgufValue>([
    ["n32", gguf.u32(7)],
    ["n64", gguf.u64(1n << 40n)],
    ["huge", gguf.u64(1n << 60n)],
    ["f", gguf.f32(0.5)],
    ["s", gguf.str("x")],
    ["b", gguf.bool(false)],
    ["toks", gguf.arr(T.STRING, ["a", "b"])],
    ["ids", gguf.arr(T.INT64, [1, 2])],
  ]);
  assert.equal(getNumber(meta, "n32"), 7);
  assert.equal(getNumber(meta, "n64"), 2 ** 40);
  assert.equal(getNumber(meta, "f"), 0.5);
  assert.equal(getNumber(meta, "absent"), undefined);
  assert.throws(() => getNumber(meta, "huge"), BitsmithError);
  assert.throws(() => getNumber(meta, "s", "m.gguf"), /m\.gguf: s: expected a number, found STRING/);
  assert.equal(getString(meta, "s"), "x");
  assert.equal(getBool(meta, "b"), false);
  assert.deepEqual(getStringArray(meta, "toks"), ["a", "b"]);
  assert.deepEqual(getNumberArray(meta, "ids"), [1, 2]);
  assert.throws(() => getStringArray(meta, "ids"), /expected an array of strings, found ARRAY of INT64/);
  assert.equal(getArray(meta, "toks")?.itemType, T.STRING);
  assert.throws(() => getArray(meta, "s"), BitsmithError);
});
