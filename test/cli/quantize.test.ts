/**
 * `bitsmith quantize` as a user runs it: llama-quantize's arguments and output, the plan with --dry-run, and for
 * bad input one clear error, exit code 1 and nothing left behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli.js";
import { REFERENCE } from "../helpers/paths.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { imatrixGgufWriter } from "../../src/formats/imatrix/index.js";
import { writeSyntheticLlama } from "../quantize/synthetic-model.js";

const MODELS = path.join(REFERENCE, "models");
const F32 = path.join(MODELS, "stories260K-f32.gguf");

function withTmp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-cli-quantize-"));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const r = fn(dir);
    if (r instanceof Promise) return r.finally(cleanup) as T;
    cleanup();
    return r;
  } catch (e) {
    cleanup();
    throw e;
  }
}

/** Exit 1, one "bitsmith: error:" line mentioning each of `mentions`, and only `keep` left in `dir`. */
function assertFails(r: ReturnType<typeof runCli>, mentions: string[], dir: string, keep: string[] = []): void {
  assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^bitsmith: error: /m);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr should mention ${JSON.stringify(m)}: ${r.stderr}`);
  assert.deepEqual(readdirSync(dir).sort(), [...keep].sort(), "no output may be left behind");
}

test("quantize with 2 threads writes llama-quantize's Q4_K_M file; --json reports files and every tensor's type", () =>
  withTmp((dir) => {
    const out = path.join(dir, "q.gguf");
    const r = runCli("quantize", F32, out, "Q4_K_M", "2", "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.ok(readFileSync(out).equals(readFileSync(path.join(MODELS, "stories260K-Q4_K_M.gguf"))));
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.files, [out]);
    assert.equal(j.type, "Q4_K_M");
    assert.equal(j.fileType, 15);
    assert.equal(j.threads, 2);
    const v2 = j.tensors.find((t: { name: string }) => t.name === "blk.2.attn_v.weight");
    assert.deepEqual([v2.from, v2.to], ["F32", "Q8_0"]);
    assert.match(v2.reason, /use_more_bits.*fallback.*Q6_K/);
  }));

test("--dry-run prints the plan and writes nothing; the output argument may be left out as in llama-quantize", () =>
  withTmp((dir) => {
    const r = runCli("quantize", F32, "Q8_0", "--dry-run", "--tensor-type", "ffn_down=f16");
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^blk\.0\.ffn_down\.weight\s+\[64,172\]\s+F32\s+F16\s+22016\s+--tensor-type ffn_down=F16$/m);
    assert.match(r.stdout, /Q8_0 \(general\.file_type 7\): 1\.2 MB -> 364\.8 KB/);
    const j = JSON.parse(runCli("quantize", F32, path.join(dir, "x.gguf"), "IQ4_NL", "--dry-run", "--json", "--tensor-type", "ffn_down=f16").stdout);
    assert.ok(j.problems.length === 0 && j.tensors.length === 48);
    assert.deepEqual(readdirSync(dir), []);
  }));

test("an unknown type is refused listing the valid ones", () =>
  withTmp((dir) => {
    assertFails(runCli("quantize", F32, path.join(dir, "q.gguf"), "Q4_K_X"), ['unknown quantization type "Q4_K_X"', "valid: ", "Q4_K_M", "IQ2_XXS", "COPY"], dir);
  }));

test("a type without a fallback for a row length fails like llama-quantize, naming the tensor", () =>
  withTmp((dir) => {
    assertFails(runCli("quantize", F32, path.join(dir, "q.gguf"), "Q8_0"), ['tensor "blk.0.ffn_down.weight"', "no fallback type for Q8_0", "--tensor-type"], dir);
  }));

test("an already quantized model is not requantized without --allow-requantize", () =>
  withTmp((dir) => {
    const out = path.join(dir, "q.gguf");
    assertFails(runCli("quantize", path.join(MODELS, "stories260K-Q4_0.gguf"), out, "Q5_0", "--tensor-type", "ffn_down=f16"), ['tensor "token_embd.weight"', "already quantized (Q4_0)", "--allow-requantize"], dir);
    const r = runCli("quantize", path.join(MODELS, "stories260K-Q4_0.gguf"), out, "Q5_0", "--tensor-type", "ffn_down=f16", "--allow-requantize", "--quiet");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(dir), ["q.gguf"]);
  }));

test("an importance matrix made for another model is refused: wrong sizes, or no tensor of this model", async () =>
  withTmp(async (dir) => {
    const write = async (file: string, names: string[], columns: number) => {
      const entries = new Map(names.map((n) => [n, { sums: new Float32Array(columns).fill(1), counts: Float64Array.of(10) }]));
      await imatrixGgufWriter({ source: file, layout: "gguf", entries, datasets: [], chunkCount: 1, chunkSize: 10 }).write(await nodeFileSystem.create(file));
    };
    const wrongSize = path.join(dir, "wrong-size.gguf");
    await write(wrongSize, ["blk.0.attn_q.weight", "blk.0.attn_k.weight"], 4096);
    const otherNames = path.join(dir, "other-names.gguf");
    await write(otherNames, ["model.layers.0.mlp.up_proj.weight"], 64);
    const keep = ["wrong-size.gguf", "other-names.gguf"];
    const out = path.join(dir, "q.gguf");
    const args = [F32, out, "Q4_0", "--tensor-type", "ffn_down=f16", "--imatrix"];
    assertFails(runCli("quantize", ...args, wrongSize), ['tensor "blk.0.attn_k.weight"', "4096 importance values", "needs 64", "another model"], dir, keep);
    assertFails(runCli("quantize", ...args, otherNames), ["other-names.gguf", "none of its 1 entries names a tensor of this model"], dir, keep);
    assertFails(runCli("quantize", ...args, path.join(dir, "missing.gguf")), ["missing.gguf"], dir, keep);
  }));

test("NaN or infinity in a weight is refused naming the tensor and the row, with one thread and with workers", async () =>
  withTmp(async (dir) => {
    const model = { layers: 2, hidden: 64, ffn: 128, heads: 4, kvHeads: 2, vocab: 64 };
    const nan = path.join(dir, "nan.gguf");
    await writeSyntheticLlama(nan, { ...model, poison: { tensor: "blk.1.attn_q.weight", row: 37, column: 5, value: NaN } });
    const inf = path.join(dir, "inf.gguf");
    await writeSyntheticLlama(inf, { ...model, type: "F16", poison: { tensor: "blk.0.ffn_up.weight", row: 100, column: 63, value: -Infinity } });
    const norm = path.join(dir, "norm.gguf");
    await writeSyntheticLlama(norm, { ...model, poison: { tensor: "blk.1.ffn_norm.weight", row: 0, column: 9, value: Infinity } });
    const keep = ["nan.gguf", "inf.gguf", "norm.gguf"];
    const out = path.join(dir, "q.gguf");
    assertFails(runCli("quantize", nan, out, "Q4_0", "1"), ['tensor "blk.1.attn_q.weight"', "row 37 holds NaN at column 5"], dir, keep);
    assertFails(runCli("quantize", inf, out, "Q8_0", "3"), ['tensor "blk.0.ffn_up.weight"', "row 100 holds -Infinity at column 63"], dir, keep);
    // Tensors copied as they are (norms) are checked too.
    assertFails(runCli("quantize", norm, out, "Q8_0"), ['tensor "blk.1.ffn_norm.weight"', "row 0 holds Infinity at column 9"], dir, keep);
  }));
