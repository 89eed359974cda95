/**
 * `bitsmith imatrix` against llama-imatrix's own files for stories260K on the reference text (-c 128):
 * same matrices, same token counts and chunk metadata, in_sum2 within the difference llama-imatrix's f16 KV
 * cache makes; and both output layouts read back equal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { readImatrix, importanceWeights } from "../../src/formats/imatrix/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { runCli } from "../helpers/cli.js";
import { REFERENCE } from "../helpers/paths.js";

const MODEL = path.join(REFERENCE, "models", "stories260K-f32.gguf");
const TEXT = path.join(REFERENCE, "text", "ts-head20k.txt");

test("bitsmith imatrix reproduces llama-imatrix's importance matrix", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-imatrix-"));
  try {
    const out = path.join(dir, "im.gguf");
    const r = runCli("imatrix", MODEL, "--text", TEXT, "-c", "128", "-o", out, "--json");
    assert.equal(r.status, 0, r.stderr);
    const ours = await readImatrix(nodeFileSystem, out);
    const ref = await readImatrix(nodeFileSystem, path.join(REFERENCE, "models", "imatrix-ts-head20k.gguf"));
    assert.deepEqual([...ours.entries.keys()], [...ref.entries.keys()]);
    assert.equal(ours.chunkCount, ref.chunkCount);
    assert.equal(ours.chunkSize, ref.chunkSize);
    let worst = 0;
    for (const [name, e] of ref.entries) {
      const mine = ours.entries.get(name)!;
      assert.deepEqual([...mine.counts], [...e.counts], `${name} counts`);
      for (let c = 0; c < e.sums.length; c++) worst = Math.max(worst, Math.abs(mine.sums[c]! - e.sums[c]!) / e.sums[c]!);
    }
    // llama-imatrix ran with an f16 KV cache and bitsmith with an exact f32 one.
    assert.ok(worst < 2e-3, `largest relative difference of in_sum2: ${worst}`);
    process.stderr.write(`imatrix: max relative difference of in_sum2 vs llama-imatrix: ${worst.toExponential(2)}\n`);

    const dat = path.join(dir, "im.dat");
    assert.equal(runCli("imatrix", MODEL, "--text", TEXT, "-c", "128", "-o", dat, "--output-format", "dat", "--quiet").status, 0);
    const legacy = await readImatrix(nodeFileSystem, dat);
    assert.equal(legacy.layout, "legacy");
    for (const name of ref.entries.keys()) {
      const a = importanceWeights(ours, name)!;
      const b = importanceWeights(legacy, name)!;
      for (let c = 0; c < a.length; c++) assert.ok(Math.abs(a[c]! - b[c]!) <= 1e-6 * Math.abs(a[c]!), `${name}[${c}]`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("imatrix refuses a text shorter than two chunks", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-imatrix-"));
  try {
    const r = runCli("imatrix", MODEL, "--text", path.join(REFERENCE, "tokenizer", "ts-head20k.first2000.txt"), "-c", "512", "-o", path.join(dir, "x.gguf"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /tokens, fewer than/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
