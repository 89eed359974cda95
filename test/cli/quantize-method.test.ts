/**
 * `bitsmith quantize --method ...` as a user runs it: a GGUF from GPTQ that llama.cpp loads and runs, a
 * Hugging Face directory in a quantized layout, and for bad input one clear error, exit code 1 and nothing
 * left behind (no output, no .partial directory).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli.js";
import { greedyTokens } from "../helpers/llama-cpp.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";
import { writeDemoModel } from "../../src/demo/demo-source.js";
import { nodeFileSystem } from "../../src/node/fs.js";

const F32 = path.join(REFERENCE, "models/stories260K-f32.gguf");
const CALIB = path.join(REFERENCE, "text/ts-head20k.txt");
const skip = !hasSharedData && "shared data missing";
const SMALL = ["--calib", CALIB, "--calib-samples", "16", "--calib-seqlen", "128"];

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-cli-method-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("gptq into a GGUF with ggml Q4_0 rounding: llama.cpp loads and runs it; the work directory is gone", { skip }, () =>
  withTmp(async (dir) => {
    const out = path.join(dir, "gptq-q4_0.gguf");
    const r = runCli("quantize", F32, out, "--method", "gptq", "--format", "gguf:Q4_0", "--group-fallback", ...SMALL, "--json");
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.method, "gptq");
    assert.equal(report.linears.length, 35);
    assert.ok(report.linears.filter((l: { stored: string }) => l.stored === "Q4_0").length === 30);
    assert.ok(report.linears.filter((l: { note?: string }) => /ffn_down/.test((l as { name: string }).name)).every((l: { stored: string }) => l.stored.startsWith("F16")));
    assert.deepEqual(readdirSync(dir), ["gptq-q4_0.gguf"]);
    const tokens = await greedyTokens(out, "Once upon a time", 8);
    assert.equal(tokens.length, 8);
  }),
);

test("gptq with act-order into a GPTQ directory (small synthetic Hugging Face model)", { skip }, () =>
  withTmp(async (dir) => {
    const model = path.join(dir, "demo");
    await writeDemoModel(nodeFileSystem, model, 3, { hiddenSize: 128, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, contextLength: 512 });
    const out = path.join(dir, "demo-gptq");
    const r = runCli("quantize", model, out, "--method", "gptq", "--bits", "4", "--group-size", "64", "--act-order", ...SMALL, "--quiet");
    assert.equal(r.status, 0, r.stderr);
    const config = JSON.parse(readFileSync(path.join(out, "config.json"), "utf8"));
    assert.equal(config.quantization_config.quant_method, "gptq");
    assert.equal(config.quantization_config.desc_act, true);
    assert.equal(config.quantization_config.group_size, 64);
    assert.ok(!existsSync(`${out}.partial`));
    // The written model opens and its layers read back (bitsmith inspect sees the packed tensors).
    const inspect = runCli("inspect", out, "--json");
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.ok(inspect.stdout.includes("model.layers.0.self_attn.q_proj.qweight"));
  }),
);

test("bad input: exit 1, one error naming the problem, nothing left behind", { skip }, () =>
  withTmp(async (dir) => {
    const cases: [string[], string][] = [
      [["--method", "gptq", "--format", "gguf:Q4_0", "--group-fallback"], "--calib"],
      [["--method", "rtn", "--format", "compressed-tensors", "--group-size", "48"], "group size 48 does not divide"],
      [["--method", "awq", "--format", "awq", "--group-size", "4", ...SMALL], "not a multiple of 8"],
      [["--method", "gptq", "--format", "gguf:Q4_0", "--group-fallback", "--calib", CALIB, "--calib-samples", "500", "--calib-seqlen", "128"], "fewer than the 500 samples requested"],
      [["--method", "outlier", "--format", "gguf:Q4_0", ...SMALL], "outlier method needs integer groups"],
      [["--method", "magic"], "--method must be one of"],
      [["--method", "rtn", "--dry-run"], "--dry-run belongs to llama.cpp's recipes"],
      [["--method", "rtn", "--format", "gptq", "--bits", "8", "--group-size", "32", "--group-fallback"], "gptq stores one group size for the whole model"],
    ];
    for (const [flags, mention] of cases) {
      const out = path.join(dir, flags.includes("gguf:Q4_0") ? "out.gguf" : "out");
      const r = runCli("quantize", F32, out, ...flags);
      assert.equal(r.status, 1, `${flags.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^bitsmith: error: /m);
      assert.ok(r.stderr.includes(mention), `${flags.join(" ")}: stderr should mention ${mention}: ${r.stderr}`);
      assert.deepEqual(readdirSync(dir), [], `${flags.join(" ")}: nothing left behind`);
    }
  }),
);
