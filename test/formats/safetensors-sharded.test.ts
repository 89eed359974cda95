/**
 * Sharded safetensors checkpoints: Hugging Face's naming, index and greedy split, reading them back, the index
 * and shards disagreeing, and max_shard_size parsing.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { nodeFileSystem } from "../../src/node/fs.js";
import {
  INDEX_FILE_NAME,
  openSafetensorsCheckpoint,
  parseShardSize,
  writeShardedSafetensors,
} from "../../src/formats/safetensors/index.js";
import type { TensorToWrite } from "../../src/formats/safetensors/index.js";
import { FIXTURES } from "../helpers/paths.js";
import { patternBytes, rejectsWith, tensorToWrite, withTempDir } from "./safetensors-helpers.js";

const u8 = (name: string, bytes: number, seed: number) => tensorToWrite(name, "U8", [bytes], patternBytes(bytes, seed));

async function shardContents(dir: string, names: string[]): Promise<string[][]> {
  const out: string[][] = [];
  for (const name of names) {
    const ckpt = await openSafetensorsCheckpoint(nodeFileSystem, path.join(dir, name));
    out.push(ckpt.tensors.map((t) => t.name));
    await ckpt.close();
  }
  return out;
}

async function assertReadsBack(source: string, tensors: readonly TensorToWrite[]): Promise<void> {
  const ckpt = await openSafetensorsCheckpoint(nodeFileSystem, source);
  try {
    assert.deepEqual(ckpt.tensors.map((t) => t.name), tensors.map((t) => t.name));
    for (const [i, t] of ckpt.tensors.entries()) assert.deepEqual(await t.read(), await tensors[i]!.read(), t.name);
    assert.equal(ckpt.metadata.get("format"), "pt");
  } finally {
    await ckpt.close();
  }
}

test("splits greedily in order as huggingface_hub documents it: [6,6,2,6,2,2] under 10 -> [6], [6,2], [6,2,2]", async () => {
  await withTempDir(async (dir) => {
    const sizes = [6, 6, 2, 6, 2, 2];
    const tensors = sizes.map((n, i) => u8(`t${i}`, n, i + 1));
    const files = await writeShardedSafetensors(nodeFileSystem, dir, tensors, { maxShardSize: 10, metadata: new Map([["format", "pt"]]) });
    const shards = ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"];
    assert.deepEqual(files, [...shards, INDEX_FILE_NAME]);
    assert.deepEqual((await readdir(dir)).sort(), [...shards, INDEX_FILE_NAME].sort());
    assert.deepEqual(await shardContents(dir, shards), [["t0"], ["t1", "t2"], ["t3", "t4", "t5"]]);

    const index = JSON.parse(await readFile(path.join(dir, INDEX_FILE_NAME), "utf8"));
    assert.deepEqual(index, {
      metadata: { total_size: 24 },
      weight_map: { t0: shards[0], t1: shards[1], t2: shards[1], t3: shards[2], t4: shards[2], t5: shards[2] },
    });
    await assertReadsBack(dir, tensors);
    await assertReadsBack(path.join(dir, INDEX_FILE_NAME), tensors);
  });
});

test("a tensor larger than maxShardSize gets its own shard and tensor order is kept", async () => {
  await withTempDir(async (dir) => {
    const tensors = [u8("a", 2, 1), u8("big", 12, 2), u8("c", 2, 3)];
    const files = await writeShardedSafetensors(nodeFileSystem, dir, tensors, { maxShardSize: 10 });
    assert.equal(files.length, 4);
    assert.deepEqual(await shardContents(dir, files.slice(0, 3)), [["a"], ["big"], ["c"]]);
  });
});

test("a checkpoint that fits one shard is written as model.safetensors without an index", async () => {
  await withTempDir(async (dir) => {
    const tensors = [u8("a", 4, 1), tensorToWrite("b", "BF16", [2, 3], patternBytes(12, 2))];
    const files = await writeShardedSafetensors(nodeFileSystem, dir, tensors, { maxShardSize: 16, metadata: new Map([["format", "pt"]]) });
    assert.deepEqual(files, ["model.safetensors"]);
    assert.deepEqual(await readdir(dir), ["model.safetensors"]);
    await assertReadsBack(dir, tensors);
  });
});

test("a real checkpoint resharded into many shards reads back identical", async () => {
  await withTempDir(async (dir) => {
    const src = await openSafetensorsCheckpoint(nodeFileSystem, path.join(FIXTURES, "hf-tiny-random-gpt2-safetensors"));
    try {
      const files = await writeShardedSafetensors(nodeFileSystem, dir, src.tensors, { maxShardSize: parseShardSize("100KB"), metadata: src.metadata });
      assert.ok(files.length > 3);
      for (const f of files.slice(0, -1)) {
        const shard = await openSafetensorsCheckpoint(nodeFileSystem, path.join(dir, f));
        const bytes = shard.tensors.reduce((n, t) => n + t.byteLength, 0);
        assert.ok(bytes <= 100_000 || shard.tensors.length === 1, `${f} holds ${bytes} bytes`);
        await shard.close();
      }
      await assertReadsBack(dir, src.tensors);
    } finally {
      await src.close();
    }
  });
});

async function writeTwoShards(dir: string): Promise<void> {
  await writeShardedSafetensors(nodeFileSystem, dir, [u8("a", 8, 1), u8("b", 8, 2)], { maxShardSize: 8 });
}
const SHARD1 = "model-00001-of-00002.safetensors";
const SHARD2 = "model-00002-of-00002.safetensors";

async function rewriteIndex(dir: string, weightMap: Record<string, unknown>): Promise<string> {
  const indexPath = path.join(dir, INDEX_FILE_NAME);
  await writeFile(indexPath, JSON.stringify({ metadata: { total_size: 16 }, weight_map: weightMap }));
  return indexPath;
}

test("an index naming a missing shard is refused, naming the index and the tensor", async () => {
  await withTempDir(async (dir) => {
    await writeTwoShards(dir);
    await rm(path.join(dir, SHARD2));
    const index = path.join(dir, INDEX_FILE_NAME);
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, dir), index, 'weight_map["b"]', /names shard "model-00002-of-00002.safetensors", which does not exist/);
  });
});

test("an index mapping a tensor to a shard that lacks it is refused", async () => {
  await withTempDir(async (dir) => {
    await writeTwoShards(dir);
    const index = await rewriteIndex(dir, { a: SHARD1, b: SHARD2, ghost: SHARD2 });
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, index), index, 'weight_map["ghost"]', /missing from shard "model-00002-of-00002/);
  });
});

test("a shard holding a tensor the index does not map to it is refused", async () => {
  await withTempDir(async (dir) => {
    // Shard 1 holds a and b, shard 2 holds c.
    await writeShardedSafetensors(nodeFileSystem, dir, [u8("a", 8, 1), u8("b", 8, 2), u8("c", 8, 3)], { maxShardSize: 16 });
    const shard1 = path.join(dir, SHARD1);
    const unlisted = await rewriteIndex(dir, { a: SHARD1, c: SHARD2 });
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, unlisted), shard1, "b", /in this shard but .* does not list it/);
    const moved = await rewriteIndex(dir, { a: SHARD1, b: SHARD2, c: SHARD2 });
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, moved), shard1, "b", /in this shard but .* maps it to "model-00002-of-00002.safetensors"/);
  });
});

test("malformed index files are refused", async () => {
  await withTempDir(async (dir) => {
    await writeTwoShards(dir);
    const index = path.join(dir, INDEX_FILE_NAME);
    await writeFile(index, "{ not json");
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, index), index, undefined, /not valid JSON/);
    await writeFile(index, JSON.stringify({ metadata: {} }));
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, index), index, "weight_map", /missing or not an object/);
    await rewriteIndex(dir, { a: "../elsewhere.safetensors" });
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, index), index, 'weight_map["a"]', /not a file name in the index's directory/);
    await rewriteIndex(dir, { a: 3 });
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, index), index, 'weight_map["a"]', /not a file name/);
  });
});

test("a directory without a checkpoint is refused", async () => {
  await withTempDir(async (dir) => {
    await rejectsWith(openSafetensorsCheckpoint(nodeFileSystem, dir), dir, undefined, /neither model.safetensors nor model.safetensors.index.json/);
  });
});

test("parseShardSize follows Hugging Face's decimal units and also takes binary ones", () => {
  // huggingface_hub's parse_size_to_int documents parse_size_to_int("5MB") == 5000000.
  assert.equal(parseShardSize("5MB"), 5_000_000);
  assert.equal(parseShardSize("2GB"), 2_000_000_000);
  assert.equal(parseShardSize("500MB"), 500_000_000);
  assert.equal(parseShardSize("5GiB"), 5 * 2 ** 30);
  assert.equal(parseShardSize("1.5G"), 1_500_000_000);
  assert.equal(parseShardSize("10KB"), 10_000);
  assert.equal(parseShardSize("64KiB"), 65_536);
  assert.equal(parseShardSize("1TB"), 1e12);
  assert.equal(parseShardSize(" 5 gb "), 5e9);
  assert.equal(parseShardSize("1000"), 1000);
  assert.equal(parseShardSize("1000B"), 1000);
  assert.equal(parseShardSize("0.5KB"), 500);
});

test("parseShardSize refuses what is not a size", () => {
  for (const text of ["", "GB", "abc", "-1GB", "5XB", "5 G B", "0", "0.0001KB", "1e3MB", "99999999TB"]) {
    assert.throws(() => parseShardSize(text), (e: Error) => e.name === "BitsmithError" && /max_shard_size/.test(e.message), text);
  }
});
