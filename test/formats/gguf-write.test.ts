/**
 * GgufWriter against llama.cpp's own files (a rewrite must reproduce them byte for byte), ggml's quantized
 * blocks of every type, atomic output, and gguf-split's shard layout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdtemp, readdir, rm } from "node:fs/promises";
import { readFileSync, readdirSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BitsmithError, MemoryByteSink, MemoryByteSource, TENSOR_TYPES, tensorType } from "../../src/core/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { GgufValueType as T, GgufWriter, gguf, openGgufModel, readGguf, readGgufFile } from "../../src/formats/gguf/index.js";
import { FIXTURES, REFERENCE, hasSharedData } from "../helpers/paths.js";

const skip = !hasSharedData && "shared data not found";
const MODELS = path.join(REFERENCE, "models");
const F32_MODEL = path.join(MODELS, "stories260K-f32.gguf");

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-gguf-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function rewrite(g: Parameters<typeof GgufWriter.from>[0]): Promise<Uint8Array> {
  const sink = new MemoryByteSink();
  await GgufWriter.from(g).write(sink);
  assert.ok(sink.committed);
  return sink.bytes();
}

test("rewriting every GGUF llama.cpp made reproduces it byte for byte", { skip }, async () => {
  const files = [
    ...readdirSyncGguf(MODELS),
    path.join(FIXTURES, "ollama-llama-2-tiny-random", "llama-2-tiny-random.gguf"),
    ...readdirSyncGguf(path.join(FIXTURES, "llama.cpp-vocab-gguf")),
  ];
  assert.ok(files.length >= 15);
  for (const file of files) {
    const g = await readGgufFile(nodeFileSystem, file);
    try {
      assert.deepEqual(await rewrite(g), new Uint8Array(readFileSync(file)), file);
    } finally {
      await g.source.close?.();
    }
  }
});

function readdirSyncGguf(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith(".gguf")).map((f) => path.join(dir, f));
}

test("raw tensor bytes of every ggml type survive a write and read", { skip }, async () => {
  // ggml's own block sizes and outputs (quant/manifest.json), for every type it has vectors of.
  interface Entry { type: string; ggml_type_id: number; block_size: number; type_size: number; nrows: number; n_per_row: number; variant: string; case: string; files: { out: string }; bytes: { out: number } }
  const manifest: { entries: Entry[] } = JSON.parse(readFileSync(path.join(REFERENCE, "quant", "manifest.json"), "utf8"));
  const fromGgml = new Map<number, Entry>();
  for (const e of manifest.entries) if (e.variant === "plain" || !fromGgml.has(e.ggml_type_id)) fromGgml.set(e.ggml_type_id, e);

  const w = new GgufWriter().set("general.architecture", gguf.str("test"));
  const expected = new Map<string, Uint8Array>();
  let seed = 1;
  for (const type of TENSOR_TYPES) {
    if (type.ggmlId === undefined) continue;
    const e = fromGgml.get(type.ggmlId);
    let shape: number[];
    let bytes: Uint8Array;
    if (e) {
      assert.deepEqual([type.blockSize, type.typeSize], [e.block_size, e.type_size], `${type.name} block layout as ggml reports it`);
      shape = [e.nrows, e.n_per_row];
      bytes = new Uint8Array(readFileSync(path.join(REFERENCE, "quant", e.files.out)));
      assert.equal(bytes.length, e.bytes.out);
    } else {
      // Types without reference vectors (F32, Q8_1, Q8_K, I8..I64, F64): 3 rows of 2 blocks of arbitrary bytes.
      shape = [3, 2 * type.blockSize];
      bytes = Uint8Array.from({ length: 6 * type.typeSize }, () => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
    }
    const name = `t.${type.name}`;
    expected.set(name, bytes);
    w.addTensor({ name, type, shape, data: async () => bytes });
  }
  assert.ok(expected.size >= 34, "every ggml type of the table");
  const sink = new MemoryByteSink();
  await w.write(sink);
  const g = await readGguf(new MemoryByteSource(sink.bytes(), "all-types.gguf"));
  assert.equal(g.tensors.length, expected.size);
  for (const t of g.tensors) {
    assert.equal(t.type.name, t.name.slice(2));
    assert.equal(t.offset % 32, 0);
    assert.equal(t.byteLength, expected.get(t.name)!.length, t.name);
    assert.deepEqual(await t.read(), expected.get(t.name), t.name);
  }
});

test("writer refuses what GGUF or llama.cpp cannot hold", () => {
  const f32 = tensorType("F32")!;
  const data = async () => new Uint8Array(0);
  const w = new GgufWriter().addTensor({ name: "a", type: f32, shape: [1], data });
  const refuses = (spec: Partial<Parameters<GgufWriter["addTensor"]>[0]>, message: RegExp) =>
    assert.throws(() => w.addTensor({ name: "b", type: f32, shape: [4], data, ...spec }), (e) => e instanceof BitsmithError && message.test(e.message));
  refuses({ name: "a" }, /duplicate tensor name/);
  refuses({ name: "x".repeat(64) }, /1 to 63 bytes/);
  refuses({ name: "" }, /1 to 63 bytes/);
  refuses({ type: tensorType("U8")! }, /cannot be stored in GGUF/);
  refuses({ shape: [1, 1, 1, 1, 1] }, /5 dimensions/);
  refuses({ shape: [2, 48], type: tensorType("Q4_0")! }, /48 is not a multiple of Q4_0's block size 32/);
  refuses({ shape: [-1] }, /invalid shape/);
  assert.throws(() => w.set("", gguf.u8(1)), BitsmithError);
});

test("a failed write leaves no file: throwing producer, wrong byte count", async () => {
  await withTempDir(async (dir) => {
    const f32 = tensorType("F32")!;
    const target = path.join(dir, "out.gguf");
    const failing = new GgufWriter()
      .addTensor({ name: "ok", type: f32, shape: [8], data: async () => new Uint8Array(32) })
      .addTensor({ name: "boom", type: f32, shape: [8], data: async () => { throw new Error("producer failed"); } });
    await assert.rejects(failing.write(await nodeFileSystem.create(target)), /producer failed/);
    assert.deepEqual(await readdir(dir), []);

    const short = new GgufWriter().addTensor({ name: "w", type: f32, shape: [2, 8], data: async () => new Uint8Array(60) });
    await assert.rejects(
      short.write(await nodeFileSystem.create(target)),
      (e) => e instanceof BitsmithError && e.file === target && e.field === 'tensor "w"' && /60 bytes, expected 64/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), []);
  });
});

test("split into 3 shards as gguf-split does, read back, merge back to the original bytes", { skip }, async () => {
  await withTempDir(async (dir) => {
    const original = await openGgufModel(nodeFileSystem, F32_MODEL);
    try {
      const prefix = path.join(dir, "stories");
      const paths = await GgufWriter.from(original).writeSplits(nodeFileSystem, prefix, { maxTensorsPerShard: 16 });
      assert.deepEqual(paths, [1, 2, 3].map((i) => `${prefix}-0000${i}-of-00003.gguf`));
      assert.deepEqual((await readdir(dir)).sort(), paths.map((p) => path.basename(p)), "no temporary files remain");

      // Each shard holds gguf-split's keys with llama.cpp's types; only the first holds the model's metadata.
      for (let i = 0; i < 3; i++) {
        const shard = await readGgufFile(nodeFileSystem, paths[i]!);
        assert.deepEqual(shard.metadata.get("split.no"), { type: T.UINT16, value: i });
        assert.deepEqual(shard.metadata.get("split.count"), { type: T.UINT16, value: 3 });
        assert.deepEqual(shard.metadata.get("split.tensors.count"), { type: T.INT32, value: 48 });
        assert.equal(shard.metadata.size, i === 0 ? original.metadata.size + 3 : 3);
        assert.equal(shard.tensors.length, 16);
        await shard.source.close?.();
      }

      const split = await openGgufModel(nodeFileSystem, paths[0]!);
      try {
        assert.equal(split.shards.length, 3);
        assert.deepEqual(split.metadata, original.metadata);
        assert.deepEqual(split.info, original.info);
        assert.deepEqual(
          split.tensors.map((t) => [t.name, t.type.name, t.shape]),
          original.tensors.map((t) => [t.name, t.type.name, t.shape]),
        );
        for (let i = 0; i < split.tensors.length; i++) assert.deepEqual(await split.tensors[i]!.read(), await original.tensors[i]!.read());
        // Merging the shards gives back llama.cpp's file exactly.
        assert.deepEqual(await rewrite(split), new Uint8Array(readFileSync(F32_MODEL)));
      } finally {
        await split.close();
      }

      // Opening a later shard, or a split with a shard missing, fails clearly.
      await assert.rejects(openGgufModel(nodeFileSystem, paths[1]!), (e) => e instanceof BitsmithError && /open the first one/.test(e.message));
      const renamed = path.join(dir, "renamed.gguf");
      await copyFile(paths[0]!, renamed);
      await assert.rejects(openGgufModel(nodeFileSystem, renamed), (e) => e instanceof BitsmithError && /must be named .*-00001-of-00003\.gguf/.test(e.message));
      await rm(paths[2]!);
      await assert.rejects(openGgufModel(nodeFileSystem, paths[0]!), (e) => e instanceof BitsmithError && e.file === paths[2] && /missing/.test(e.message));
    } finally {
      await original.close();
    }
  });
});

test("split by size: shards as full as the byte limit allows", { skip }, async () => {
  await withTempDir(async (dir) => {
    const original = await openGgufModel(nodeFileSystem, F32_MODEL);
    try {
      const limit = 300_000;
      const padded = (n: number) => Math.ceil(n / 32) * 32;
      const paths = await GgufWriter.from(original).writeSplits(nodeFileSystem, path.join(dir, "s"), { maxShardBytes: limit });
      const split = await openGgufModel(nodeFileSystem, paths[0]!);
      try {
        const sizes = split.shards.map((s) => s.tensors.reduce((n, t) => n + padded(t.byteLength), 0));
        assert.ok(split.shards.length > 1);
        sizes.forEach((size, i) => {
          assert.ok(size <= limit || split.shards[i]!.tensors.length === 1, `shard ${i} within the limit`);
          const next = split.shards[i + 1]?.tensors[0];
          if (next) assert.ok(size + padded(next.byteLength) > limit, `shard ${i} could not take the next tensor`);
        });
        assert.deepEqual(split.tensors.map((t) => t.name), original.tensors.map((t) => t.name));
      } finally {
        await split.close();
      }
    } finally {
      await original.close();
    }
  });
});
