/** `bitsmith eval` and `bitsmith generate` as a user runs them, and their refusals of bad input. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";
import { GgufWriter, openGgufModel } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { NATIVE_BACKENDS } from "../helpers/native-backends.js";

const skip = !hasSharedData && "shared reference data not found";
const MODEL = path.join(REFERENCE, "models", "stories260K-f32.gguf");
const Q4 = path.join(REFERENCE, "models", "stories260K-Q4_0.gguf");
const TEXT = path.join(REFERENCE, "text", "ts-head20k.txt");

async function withTmp(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-eval-cli-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertFails(r: ReturnType<typeof runCli>, ...mentions: string[]): void {
  assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^bitsmith: error: /m);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr should mention ${JSON.stringify(m)}: ${r.stderr}`);
}

test("eval --json: llama-perplexity's token count and running perplexity", { skip }, () => {
  const r = runCli("eval", MODEL, "--text", TEXT, "--ctx", "128", "--chunks", "3", "--json");
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const published = JSON.parse(readFileSync(path.join(REFERENCE, "perplexity", "perplexity.json"), "utf8")).results[0];
  assert.equal(j.tokens, published.n_tokens_text);
  assert.equal(j.chunks, 3);
  assert.equal(j.count, 3 * 63);
  // llama-perplexity printed [3]4.9514 (f16 KV cache); an f32 cache moves the 4th decimal at most.
  assert.ok(Math.abs(j.ppl - published.running_ppl_printed[2]) < 2e-3, `${j.ppl}`);
  assert.ok(j.tokensPerSecond > 0);
});

test("eval --save-logits then --kld-logits gives the KLD of --kld-base", { skip }, async () => {
  await withTmp(async (dir) => {
    const base = path.join(dir, "base.bslp");
    const common = ["--text", TEXT, "--ctx", "128", "--chunks", "4", "--json"];
    const saved = runCli("eval", MODEL, ...common, "--save-logits", base);
    assert.equal(saved.status, 0, saved.stderr);
    assert.equal(JSON.parse(saved.stdout).savedLogits, base);
    const fromFile = JSON.parse(runCli("eval", Q4, ...common, "--kld-logits", base).stdout).kld;
    const live = JSON.parse(runCli("eval", Q4, ...common, "--kld-base", MODEL).stdout).kld;
    assert.equal(fromFile.count, 4 * 63);
    assert.ok(Math.abs(fromFile.kld.value - live.kld.value) <= 1e-3 * live.kld.value);
    const text = runCli("eval", Q4, "--text", TEXT, "--ctx", "128", "--chunks", "4", "--quiet", "--kld-logits", base);
    assert.match(text.stdout, /Final estimate: PPL = \d\.\d{4} \+\/- \d\.\d{5}/);
    assert.match(text.stdout, /Mean    KLD: +\d\.\d{6} ± +\d\.\d{6}/);
    assert.match(text.stdout, /Same top p: +\d+\.\d{3} ± +\d\.\d{3} %/);
  });
});

test("eval refuses empty or short texts, long contexts, models without a vocabulary and conflicting flags", { skip }, async () => {
  await withTmp(async (dir) => {
    const empty = path.join(dir, "empty.txt");
    writeFileSync(empty, "\n");
    assertFails(runCli("eval", MODEL, "--text", empty), "empty.txt", "the text file is empty");
    const short = path.join(dir, "short.txt");
    writeFileSync(short, "Once upon a time there was a cat.");
    assertFails(runCli("eval", MODEL, "--text", short, "--ctx", "64"), "fewer than 128", "--ctx");
    assertFails(runCli("eval", MODEL, "--text", path.join(dir, "missing.txt")), "missing.txt");
    assertFails(runCli("eval", MODEL, "--text", TEXT, "--ctx", "256"), "context 256 exceeds the model's trained context length 128");
    assertFails(runCli("eval", MODEL, "--text", TEXT, "--ctx", "x"), "--ctx must be an integer");
    assertFails(runCli("eval", MODEL, "--text", TEXT, "--protocol", "hf"), "--protocol must be one of llama, gptq");
    assertFails(runCli("eval", MODEL, "--text", TEXT, "--kld-base", MODEL, "--kld-logits", empty), "either --kld-base or --kld-logits");
    assertFails(runCli("eval", MODEL, "--text", TEXT, "--ctx", "128", "--kld-logits", empty), "empty.txt", "too short");

    // The same weights without tokenizer.ggml.* keys.
    const src = await openGgufModel(nodeFileSystem, MODEL);
    const w = new GgufWriter();
    for (const [k, v] of src.metadata) if (!k.startsWith("tokenizer.")) w.set(k, v);
    for (const t of src.tensors) w.addTensor({ name: t.name, type: t.type, shape: t.shape, data: () => t.read() });
    const noVocab = path.join(dir, "no-vocab.gguf");
    await w.write(await nodeFileSystem.create(noVocab));
    await src.close();
    assertFails(runCli("eval", noVocab, "--text", TEXT), "no-vocab.gguf", "no tokenizer");
    assert.deepEqual(readdirSync(dir).sort(), ["empty.txt", "no-vocab.gguf", "short.txt"], "no output left behind");
  });
});

test("generate: greedy text, repeatable sampling, JSON", { skip }, () => {
  const greedy = runCli("generate", MODEL, "--prompt", "Once upon a time", "-n", "24");
  assert.equal(greedy.status, 0, greedy.stderr);
  assert.ok(greedy.stdout.trim().length > 20);
  const sample = (seed: string) => JSON.parse(runCli("generate", MODEL, "--prompt", "One day", "-n", "16", "--temp", "0.9", "--seed", seed, "--json").stdout);
  const a = sample("7");
  assert.equal(a.tokens.length <= 16, true);
  assert.equal(a.promptTokens[0], 1, "BOS first");
  assert.deepEqual(sample("7").tokens, a.tokens);
  assertFails(runCli("generate", MODEL, "--prompt", "x", "--top-p", "2"), "--top-p must be a number");
  assertFails(runCli("generate", MODEL, "--prompt", "x", "-n", "500"), "exceed the model's context of 128");
});

test("eval --kernels: native (bitsmith's addon), onnxruntime and wasm agree on the demo model's perplexity; a bad kind is refused", { skip }, () => {
  const common = ["eval", "@demo", "--text", TEXT, "--ctx", "256", "--chunks", "2", "--json"];
  const wasm = runCli(...common, "--kernels", "wasm");
  assert.equal(wasm.status, 0, wasm.stderr);
  const w = JSON.parse(wasm.stdout);
  assert.match(w.kernels, /^wasm/);
  assert.doesNotMatch(w.kernels, /onnxruntime|native/);
  for (const { kind, name, skip: missing } of NATIVE_BACKENDS) {
    if (missing) continue;
    const native = runCli(...common, "--kernels", kind);
    assert.equal(native.status, 0, native.stderr);
    const n = JSON.parse(native.stdout);
    assert.ok(n.kernels.includes(name), n.kernels);
    // Only the float32 summation order differs (hidden 256: the 256-token batches' products go native).
    assert.ok(Math.abs(n.ppl - w.ppl) / w.ppl < 1e-4, `${kind} ${n.ppl} vs wasm ${w.ppl}`);
  }
  assertFails(runCli(...common, "--kernels", "gpu"), "--kernels", "auto, native, onnxruntime, wasm, reference");
});
