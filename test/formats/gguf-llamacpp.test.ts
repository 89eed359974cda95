/**
 * llama.cpp (through node-llama-cpp) loads what GgufWriter writes and generates the same greedy tokens as
 * from the original file: a rewrite with a different layout (64-byte alignment, keys in another order) and
 * a 3-shard split.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { nodeFileSystem } from "../../src/node/fs.js";
import { GgufWriter, gguf, openGgufModel, readGgufFile } from "../../src/formats/gguf/index.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";
import { greedyTokens as llamaCppGreedy } from "../helpers/llama-cpp.js";

const skip = !hasSharedData && "shared data not found";
const MODELS = path.join(REFERENCE, "models");
const PROMPT = "Once upon a time";
const N_TOKENS = 16;

let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-gguf-llamacpp-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Greedy continuation of PROMPT (with BOS). */
const greedyTokens = (modelPath: string) => llamaCppGreedy(modelPath, PROMPT, N_TOKENS);

/** The file rewritten with 64-byte alignment and its keys in reverse order: same model, different bytes. */
async function relaidOut(source: string, target: string): Promise<void> {
  const g = await readGgufFile(nodeFileSystem, source);
  try {
    const w = new GgufWriter();
    for (const [k, v] of [...g.metadata].reverse()) w.set(k, v);
    w.set("general.alignment", gguf.u32(64));
    for (const t of g.tensors) w.addTensor({ name: t.name, type: t.type, shape: t.shape, data: () => t.read() });
    await w.write(await nodeFileSystem.create(target));
  } finally {
    await g.source.close?.();
  }
  const check = await readGgufFile(nodeFileSystem, target);
  try {
    assert.equal(check.alignment, 64);
    assert.equal(check.dataOffset % 64, 0);
  } finally {
    await check.source.close?.();
  }
}

for (const name of ["stories260K-f32.gguf", "stories260K-Q4_K_M.gguf"]) {
  test(`llama.cpp generates the same tokens from a re-laid-out ${name}`, { skip }, async () => {
    const original = path.join(MODELS, name);
    const rewritten = path.join(dir, `relaid-${name}`);
    await relaidOut(original, rewritten);
    const expected = await greedyTokens(original);
    assert.equal(expected.length, N_TOKENS);
    assert.deepEqual(await greedyTokens(rewritten), expected);
  });
}

test("llama.cpp loads a 3-shard split written by GgufWriter from its first shard", { skip }, async () => {
  const original = path.join(MODELS, "stories260K-f32.gguf");
  const model = await openGgufModel(nodeFileSystem, original);
  let paths: string[];
  try {
    paths = await GgufWriter.from(model).writeSplits(nodeFileSystem, path.join(dir, "stories260K-f32"), { maxTensorsPerShard: 16 });
  } finally {
    await model.close();
  }
  assert.equal(paths.length, 3);
  assert.deepEqual(await greedyTokens(paths[0]!), await greedyTokens(original));
  // It really reads the other shards: without the last one the model does not load.
  await rm(paths[2]!);
  await assert.rejects(greedyTokens(paths[0]!));
});
