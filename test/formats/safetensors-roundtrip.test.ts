/**
 * Safetensors reading and writing against the format's published examples, round trips for every dtype, lazy
 * range reads, and the real tiny GPT-2 checkpoint.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { MemoryByteSink, MemoryByteSource, MemoryFileSystem } from "../../src/core/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import {
  openSafetensorsCheckpoint,
  openSafetensorsFile,
  readSafetensorsHeader,
  writeSafetensors,
} from "../../src/formats/safetensors/index.js";
import type { TensorToWrite } from "../../src/formats/safetensors/index.js";
import { sizeTensors, writeSafetensorsToSink } from "../../src/formats/safetensors/writer.js";
import { FIXTURES } from "../helpers/paths.js";
import { patternBytes, rawFile, RecordingSource, stType, tensorToWrite, withTempDir } from "./safetensors-helpers.js";

const text = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};
const u64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};

async function writeToMemory(tensors: readonly TensorToWrite[], metadata = new Map<string, string>()): Promise<Uint8Array> {
  const sink = new MemoryByteSink("mem.safetensors");
  await writeSafetensorsToSink(sink, sizeTensors(tensors, sink.name), metadata);
  return sink.bytes();
}

// The expected bytes below restate cases from the reference implementation's tests (safetensors/src/tensor.rs:
// test_serialization_forced_alignement and test_empty), where the JSON is padded with spaces to a multiple of 8.
test("writes the reference implementation's byte layout for one F32 tensor", async () => {
  const data = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
  const out = await writeToMemory([tensorToWrite("attn0", "F32", [1, 1, 2, 3], data)]);
  const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.deepEqual(out, concat(u64(72), text(json), text(" ".repeat(7)), data));
});

test("writes the reference layout for no tensors, with and without __metadata__", async () => {
  assert.deepEqual(await writeToMemory([]), concat(u64(8), text("{}      ")));
  const withMeta = await writeToMemory([], new Map([["framework", "pt"]]));
  assert.deepEqual(withMeta, concat(u64(40), text('{"__metadata__":{"framework":"pt"}}     ')));
  const header = await readSafetensorsHeader(new MemoryByteSource(withMeta));
  assert.deepEqual([...header.metadata], [["framework", "pt"]]);
  assert.equal(header.tensors.length, 0);
});

test("reads the example file from the reference implementation's documentation", async () => {
  // safetensors/src/tensor.rs, SafeTensors::deserialize doc example: a 60-byte header ('<') and 16 zero bytes.
  const bytes = rawFile('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', 16);
  assert.equal(bytes[0], "<".charCodeAt(0));
  const { tensors, dataOffset } = await readSafetensorsHeader(new MemoryByteSource(bytes, "doc.safetensors"));
  assert.equal(dataOffset, 68);
  assert.equal(tensors.length, 1);
  const [t] = tensors;
  assert.equal(t!.name, "test");
  assert.equal(t!.type.name, "I32");
  assert.deepEqual(t!.shape, [2, 2]);
  assert.deepEqual(await t!.read(), new Uint8Array(16));
});

/** Raw little-endian encodings of values a float conversion could alter: NaN payloads, -0, subnormals, infinities. */
const SPECIAL_BITS: Record<string, bigint[]> = {
  F64: [0x7ff0000000000001n, 0xfff8000000000123n, 0x8000000000000000n, 0x0000000000000001n, 0xfff0000000000000n],
  F32: [0x7f800001n, 0xffc00123n, 0x80000000n, 0x00000001n, 0x807fffffn, 0x7f800000n],
  F16: [0x7c01n, 0xfe01n, 0x8000n, 0x0001n, 0x83ffn, 0xfc00n],
  BF16: [0x7f81n, 0xffc1n, 0x8000n, 0x0001n, 0x807fn, 0xff80n],
  F8_E4M3: [0x7fn, 0xffn, 0x80n, 0x01n, 0x87n],
  F8_E5M2: [0x7dn, 0xfen, 0x80n, 0x01n, 0x83n, 0xfcn],
};
const ALL_DTYPES = ["F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"];

function valuesFor(dtype: string, elements: number, seed: number): Uint8Array {
  const size = stType(dtype).typeSize;
  const bytes = patternBytes(elements * size, seed);
  if (dtype === "BOOL") for (let i = 0; i < bytes.length; i++) bytes[i]! &= 1;
  (SPECIAL_BITS[dtype] ?? []).forEach((bits, i) => {
    for (let b = 0; b < size; b++) bytes[i * size + b] = Number((bits >> BigInt(8 * b)) & 0xffn);
  });
  return bytes;
}

test("every dtype round-trips bit for bit through a file, including scalars and empty tensors", async () => {
  await withTempDir(async (dir) => {
    const tensors = ALL_DTYPES.flatMap((dtype, i) => [
      tensorToWrite(`${dtype}.matrix`, dtype, [3, 7], valuesFor(dtype, 21, i + 1)),
      tensorToWrite(`${dtype}.scalar`, dtype, [], valuesFor(dtype, 1, i + 100)),
      tensorToWrite(`${dtype}.empty`, dtype, [0, 4], new Uint8Array(0)),
    ]);
    const file = path.join(dir, "all.safetensors");
    const metadata = new Map([["format", "pt"], ["note", 'quotes " and unicode ü']]);
    await writeSafetensors(nodeFileSystem, file, tensors, metadata);

    const raw = await readFile(file);
    const headerLength = Number(raw.readBigUInt64LE(0));
    assert.equal(headerLength % 8, 0, "header padded to a multiple of 8");
    assert.match(raw.subarray(8, 8 + headerLength).toString("utf8"), /^\{.*\} *$/s);

    const ckpt = await openSafetensorsFile(nodeFileSystem, file);
    try {
      assert.deepEqual([...ckpt.metadata], [...metadata]);
      assert.deepEqual(ckpt.files, [file]);
      assert.deepEqual(ckpt.tensors.map((t) => t.name), tensors.map((t) => t.name));
      for (const [i, t] of ckpt.tensors.entries()) {
        const expected = await tensors[i]!.read();
        assert.equal(t.type.safetensors, tensors[i]!.type.safetensors);
        assert.deepEqual(t.shape, tensors[i]!.shape);
        assert.equal(t.byteLength, expected.length);
        assert.deepEqual(await t.read(), expected, t.name);
        assert.deepEqual(Buffer.from(raw.subarray(t.fileOffset, t.fileOffset + t.byteLength)), Buffer.from(expected));
      }
    } finally {
      await ckpt.close();
    }
  });
});

test("tensor reads fetch only their own byte range from the source", async () => {
  const a = valuesFor("F16", 64, 7);
  const b = valuesFor("F32", 16, 8);
  const bytes = await writeToMemory([tensorToWrite("a", "F16", [8, 8], a), tensorToWrite("b", "F32", [16], b)]);
  const source = new RecordingSource(new MemoryByteSource(bytes, "rec.safetensors"));
  const { tensors, dataOffset } = await readSafetensorsHeader(source);
  assert.deepEqual(source.reads, [[0, 8], [8, dataOffset - 8]]);

  source.reads.length = 0;
  const tb = tensors[1]!;
  assert.deepEqual(await tb.read(12, 20), b.subarray(12, 32));
  assert.deepEqual(await tb.read(40), b.subarray(40));
  assert.deepEqual(source.reads, [[dataOffset + 128 + 12, 20], [dataOffset + 128 + 40, 24]]);
});

test("writing and reading go through any FileSystemLike (in-memory, as in a browser)", async () => {
  const fs = new MemoryFileSystem();
  const t = tensorToWrite("w", "BF16", [2, 3], valuesFor("BF16", 6, 3));
  await writeSafetensors(fs, "out/model.safetensors", [t]);
  const ckpt = await openSafetensorsCheckpoint(fs, "out");
  assert.deepEqual(await ckpt.tensors[0]!.read(), await t.read());
  await ckpt.close();
});

const GPT2_DIR = path.join(FIXTURES, "hf-tiny-random-gpt2-safetensors");

/** GPT-2's parameter shapes from its config, in transformers' layout (Conv1D weights are [in, out]). */
function gpt2Shapes(config: { n_embd: number; n_layer: number; vocab_size: number; n_positions: number; n_inner: number | null }) {
  const e = config.n_embd;
  const inner = config.n_inner ?? 4 * e;
  const shapes = new Map<string, number[]>([
    ["transformer.wte.weight", [config.vocab_size, e]],
    ["transformer.wpe.weight", [config.n_positions, e]],
    ["transformer.ln_f.weight", [e]],
    ["transformer.ln_f.bias", [e]],
  ]);
  for (let i = 0; i < config.n_layer; i++) {
    const p = `transformer.h.${i}.`;
    for (const ln of ["ln_1", "ln_2"]) {
      shapes.set(`${p}${ln}.weight`, [e]);
      shapes.set(`${p}${ln}.bias`, [e]);
    }
    shapes.set(`${p}attn.c_attn.weight`, [e, 3 * e]);
    shapes.set(`${p}attn.c_attn.bias`, [3 * e]);
    shapes.set(`${p}attn.c_proj.weight`, [e, e]);
    shapes.set(`${p}attn.c_proj.bias`, [e]);
    shapes.set(`${p}mlp.c_fc.weight`, [e, inner]);
    shapes.set(`${p}mlp.c_fc.bias`, [inner]);
    shapes.set(`${p}mlp.c_proj.weight`, [inner, e]);
    shapes.set(`${p}mlp.c_proj.bias`, [e]);
  }
  return shapes;
}

test("reads the tiny GPT-2 checkpoint with the tensors its config.json implies", async () => {
  const config = JSON.parse(await readFile(path.join(GPT2_DIR, "config.json"), "utf8"));
  const expected = gpt2Shapes(config);
  assert.equal(expected.size, 64);

  const ckpt = await openSafetensorsCheckpoint(nodeFileSystem, GPT2_DIR);
  try {
    assert.equal(ckpt.tensors.length, expected.size);
    for (const t of ckpt.tensors) {
      assert.deepEqual(t.shape, expected.get(t.name), t.name);
      assert.equal(t.type.name, "F32", t.name);
    }
    assert.equal(ckpt.metadata.get("format"), "pt");
    const fileSize = (await readFile(ckpt.files[0]!)).length;
    const last = ckpt.tensors.reduce((a, b) => (a.fileOffset > b.fileOffset ? a : b));
    assert.equal(last.fileOffset + last.byteLength, fileSize);
    // ln_1 weights are initialised to ones by transformers.
    const ln = ckpt.tensors.find((t) => t.name === "transformer.h.0.ln_1.weight")!;
    const ones = new Float32Array((await ln.read()).slice().buffer);
    assert.ok(ones.every((v) => v === 1));
  } finally {
    await ckpt.close();
  }
});

test("a checkpoint copied through the writer reads back identical", async () => {
  await withTempDir(async (dir) => {
    const src = await openSafetensorsCheckpoint(nodeFileSystem, path.join(GPT2_DIR, "model.safetensors"));
    try {
      const out = path.join(dir, "copy.safetensors");
      await writeSafetensors(nodeFileSystem, out, src.tensors, src.metadata);
      const copy = await openSafetensorsFile(nodeFileSystem, out);
      try {
        assert.deepEqual(copy.tensors.map((t) => [t.name, t.shape]), src.tensors.map((t) => [t.name, t.shape]));
        for (const [i, t] of copy.tensors.entries()) assert.deepEqual(await t.read(), await src.tensors[i]!.read());
      } finally {
        await copy.close();
      }
    } finally {
      await src.close();
    }
  });
});
