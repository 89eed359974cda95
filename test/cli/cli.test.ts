/**
 * The bitsmith command as a user runs it: results on real files, and for bad input a clear error naming the
 * file and field, a non-zero exit code, and no output left behind.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { CLI, runCli } from "../helpers/cli.js";
import { FIXTURES, REFERENCE } from "../helpers/paths.js";

const MODELS = path.join(REFERENCE, "models");

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-cli-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts a failed run: exit 1, one "bitsmith: error:" line mentioning each of `mentions`, and `dir` left empty. */
function assertFails(r: ReturnType<typeof runCli>, mentions: string[], dir?: string): void {
  assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^bitsmith: error: /m);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr should mention ${JSON.stringify(m)}: ${r.stderr}`);
  if (dir) assert.deepEqual(readdirSync(dir), [], "no output may be left behind");
}

test("the built command runs as an executable (npx and npm's bin links run it directly, not through node)", { skip: process.platform === "win32" }, () => {
  const r = spawnSync(CLI, ["--version"], { encoding: "utf8" });
  assert.equal(r.error, undefined, `running ${CLI}: ${r.error?.message}`);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")).version);
});

test("demo writes the synthetic checkpoint @demo stands for: --json lists the files, inspect sees the same tensors; a bad seed is refused", () => {
  withTmp((dir) => {
    const out = path.join(dir, "demo-model");
    const r = runCli("demo", out, "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, "");
    const written = JSON.parse(r.stdout) as { dir: string; seed: number; files: string[] };
    assert.equal(written.seed, 1);
    assert.deepEqual(written.files, readdirSync(out).sort());
    for (const f of ["config.json", "model.safetensors"]) assert.ok(written.files.includes(f), f);
    const tensors = (model: string) => {
      const i = runCli("inspect", model, "--json", "--no-metadata");
      assert.equal(i.status, 0, i.stderr);
      const list = (JSON.parse(i.stdout) as { tensors: unknown[] }).tensors;
      assert.ok(Array.isArray(list) && list.length > 0, `inspect ${model} lists tensors`);
      return list;
    };
    assert.deepEqual(tensors(out), tensors("@demo"));
    const quiet = runCli("demo", path.join(dir, "quiet"), "--quiet", "--seed", "7");
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.equal(quiet.stderr + quiet.stdout, "");
    assertFails(runCli("demo", path.join(dir, "bad"), "--seed", "x"), ["--seed", "x"]);
    assert.equal(existsSync(path.join(dir, "bad")), false);
  });
});

test("inspect --json reports llama.cpp's tensor types and shapes for a quantized GGUF", () => {
  const r = runCli("inspect", path.join(MODELS, "stories260K-Q4_K_M.gguf"), "--json");
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  const ref = JSON.parse(readFileSync(path.join(MODELS, "models.json"), "utf8"));
  const refModel = ref.models.find((m: { file?: string; type?: string }) => (m.file ?? "").endsWith("stories260K-Q4_K_M.gguf"));
  assert.ok(refModel, "models.json lists the Q4_K_M file");
  const types = new Map<string, string>(Object.entries(refModel.tensor_types));
  assert.equal(s.tensors.length, types.size);
  for (const t of s.tensors) assert.equal(t.type, types.get(t.name), t.name);
  assert.equal(s.architecture, "llama");
  assert.equal(s.hparams.numLayers, 5);
  assert.equal(s.tokenizer.vocabSize, 512);
  // bits per weight of the whole file is bytes*8/parameters
  assert.ok(Math.abs(s.totals.bitsPerWeight - (s.totals.bytes * 8) / s.totals.parameters) < 1e-9);
});

test("inspect reads a llama2.c checkpoint with its tokenizer found beside it", () => {
  const r = runCli("inspect", path.join(MODELS, "stories260K", "stories260K.bin"));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /format:\s+llama2c/);
  assert.match(r.stdout, /tokenizer:\s+llama, 512 tokens/);
  assert.match(r.stdout, /total: 48 tensors, 292,800 parameters/);
});

test("convert writes a GGUF from llama2.c identical to llama.cpp's, and reports JSON", () => {
  withTmp((dir) => {
    const out = path.join(dir, "s.gguf");
    const r = runCli("convert", path.join(MODELS, "stories260K", "stories260K.bin"), out, "--json");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).files, [out]);
    assert.ok(readFileSync(out).equals(readFileSync(path.join(MODELS, "stories260K-f32.gguf"))));
  });
});

test("convert to split GGUF and sharded safetensors", () => {
  withTmp((dir) => {
    const r = runCli("convert", path.join(MODELS, "stories260K-f32.gguf"), path.join(dir, "s.gguf"), "--split-max-tensors", "20", "--quiet");
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ["s-00001-of-00003.gguf", "s-00002-of-00003.gguf", "s-00003-of-00003.gguf"]);
    const r2 = runCli("convert", path.join(dir, "s-00001-of-00003.gguf"), path.join(dir, "hf"), "--max-shard-size", "400KB", "--quiet");
    assert.equal(r2.status, 0, r2.stderr);
    const files = readdirSync(path.join(dir, "hf"));
    assert.ok(files.includes("model.safetensors.index.json"), files.join(","));
    assert.ok(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 3, files.join(","));
    const r3 = runCli("inspect", path.join(dir, "hf"), "--json");
    // The GGUF has its own output.weight, so the HF model is untied and keeps all 292800 parameters.
    assert.equal(JSON.parse(r3.stdout).totals.parameters, 292800);
  });
});

test("a truncated GGUF fails with the file named and no output left", () => {
  withTmp((dir) => {
    const bad = path.join(dir, "in", "truncated.gguf");
    mkdirSync(path.dirname(bad));
    writeFileSync(bad, readFileSync(path.join(MODELS, "stories260K-f32.gguf")).subarray(0, 100_000));
    const out = path.join(dir, "out");
    mkdirSync(out);
    assertFails(runCli("convert", bad, path.join(out, "x.gguf")), [bad], out);
    assertFails(runCli("inspect", bad), [bad]);
  });
});

test("a non-Llama config is refused naming the architecture and what is supported", () => {
  withTmp((dir) => {
    const out = path.join(dir, "out");
    mkdirSync(out);
    const r = runCli("convert", path.join(FIXTURES, "hf-tiny-random-gpt2-safetensors"), path.join(out, "x.gguf"));
    assertFails(r, ["config.json", "model_type", "gpt2", "llama, mistral, qwen2"], out);
  });
});

test("an index.json naming a missing shard is refused naming the shard", () => {
  withTmp((dir) => {
    const hf = path.join(dir, "hf");
    assert.equal(runCli("convert", path.join(MODELS, "stories260K-f32.gguf"), hf, "--max-shard-size", "400KB", "--quiet").status, 0);
    const shard = readdirSync(hf).find((f) => f.endsWith(".safetensors"))!;
    rmSync(path.join(hf, shard));
    const out = path.join(dir, "out");
    mkdirSync(out);
    assertFails(runCli("convert", hf, path.join(out, "x.gguf")), [shard], out);
  });
});

test("a safetensors header longer than the file is refused before anything is allocated", () => {
  withTmp((dir) => {
    const hf = path.join(dir, "hf");
    assert.equal(runCli("convert", path.join(MODELS, "stories260K-f32.gguf"), hf, "--quiet").status, 0);
    const file = path.join(hf, "model.safetensors");
    const bytes = readFileSync(file);
    bytes.writeBigUInt64LE(BigInt(bytes.length) * 1000n, 0);
    writeFileSync(file, bytes);
    const out = path.join(dir, "out");
    mkdirSync(out);
    assertFails(runCli("convert", hf, path.join(out, "x.gguf")), ["model.safetensors", "header"], out);
  });
});

test("unknown --outtype lists the valid ones; q8_0 into a HF directory is refused", () => {
  withTmp((dir) => {
    assertFails(runCli("convert", "@demo", path.join(dir, "x.gguf"), "--outtype", "q3_x"), ["--outtype", "f16", "q8_0"], dir);
    assertFails(runCli("convert", "@demo", path.join(dir, "hf"), "--outtype", "q8_0"), ["q8_0"]);
    assert.equal(existsSync(path.join(dir, "hf", "config.json")), false);
  });
});

test("a missing input and a PyTorch pickle get clear errors", () => {
  withTmp((dir) => {
    assertFails(runCli("inspect", path.join(dir, "nope.gguf")), ["nope.gguf", "no such file"]);
    const pickle = path.join(dir, "pytorch_model.bin");
    writeFileSync(pickle, Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]));
    assertFails(runCli("inspect", pickle), ["pytorch_model.bin", "PyTorch"]);
    copyFileSync(path.join(MODELS, "stories260K", "tok512.bin"), path.join(dir, "tok512.bin"));
    writeFileSync(path.join(dir, "model.bin"), Buffer.alloc(10));
    assertFails(runCli("inspect", path.join(dir, "model.bin")), ["model.bin"]);
  });
});
