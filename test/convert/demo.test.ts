/** The built-in demo checkpoint: a real HF Llama directory that every path of bitsmith can read and llama.cpp can run. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import "../../src/codecs/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { writeDemoModel } from "../../src/demo/demo-source.js";
import { convertToGguf } from "../../src/convert/to-gguf.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { toFloat32 } from "../../src/codecs/convert.js";
import { buildDemoTokenizer } from "../../src/demo/demo-tokenizer.js";
import { greedyTokens, llamaCppTokenize } from "../helpers/llama-cpp.js";
import { runCli } from "../helpers/cli.js";

test("the demo model is deterministic per seed and its HF tokenizer agrees with llama.cpp's reading of it", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-demo-"));
  try {
    await writeDemoModel(nodeFileSystem, path.join(dir, "a"), 7);
    await writeDemoModel(nodeFileSystem, path.join(dir, "b"), 7);
    await writeDemoModel(nodeFileSystem, path.join(dir, "c"), 8);
    const st = (d: string) => readFileSync(path.join(dir, d, "model.safetensors"));
    assert.ok(st("a").equals(st("b")), "same seed, same bytes");
    assert.ok(!st("a").equals(st("c")), "another seed, other weights");

    const model = await openModel(nodeFileSystem, path.join(dir, "a"));
    const config = JSON.parse(readFileSync(path.join(dir, "a", "config.json"), "utf8"));
    assert.equal(model.info.hparams?.hiddenSize, config.hidden_size);
    assert.equal(model.info.tokenizer?.tokens.length, config.vocab_size);
    // Weights are N(0, 0.02) as the config's initializer_range says; norms are 1.
    const q = model.tensors.find((t) => t.name === "model.layers.0.self_attn.q_proj.weight")!;
    const v = toFloat32(await q.read(), q.type, q.shape[0]! * q.shape[1]!);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    assert.ok(Math.abs(mean) < 1e-3 && Math.abs(std - 0.02) < 1e-3, `mean ${mean} std ${std}`);
    await model.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("@demo converts to a GGUF that llama.cpp loads and runs, tokenizing as Hugging Face does", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-demo-"));
  try {
    const demo = await openModel(nodeFileSystem, "@demo");
    const out = path.join(dir, "demo.gguf");
    await convertToGguf(demo, nodeFileSystem, out, { outtype: "q8_0" });
    const tokens = await greedyTokens(out, "once upon a time the little dog", 8);
    // llama.cpp's tokenizer (from tokenizer.model's scores) splits text exactly as the HF tokenizer.json does.
    const files = buildDemoTokenizer();
    const hfTok = new Tokenizer(JSON.parse(files["tokenizer.json"]), JSON.parse(files["tokenizer_config.json"]));
    for (const text of ["once upon a time the little dog", "Lily played with her friends in the park!", "zebra, ok? 42"]) {
      assert.deepEqual(await llamaCppTokenize(out, text), hfTok.encode(text).ids, text);
    }
    assert.equal(tokens.length, 8);
    assert.ok(tokens.every((t) => Number.isInteger(t) && t >= 0 && t < demo.info.tokenizer!.tokens.length));

    // GGUF -> HF -> GGUF of the demo keeps every tensor (Q/K permutations cancel out).
    const gguf = await openModel(nodeFileSystem, out);
    await convertToHf(gguf, nodeFileSystem, path.join(dir, "hf"), { outtype: "f32" });
    await gguf.close();
    const hf = await openModel(nodeFileSystem, path.join(dir, "hf"));
    const tj = JSON.parse(readFileSync(path.join(dir, "hf", "tokenizer.json"), "utf8"));
    const ids = new Tokenizer(tj, JSON.parse(readFileSync(path.join(dir, "hf", "tokenizer_config.json"), "utf8"))).encode("the girl saw a big red ball").ids;
    assert.equal(ids[0], 1, "BOS first");
    await hf.close();
    await demo.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the README's quick start: quantize @demo to Q4_K_M gives a GGUF of Q4_K/Q6_K tensors that llama.cpp runs", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-quickstart-"));
  try {
    const readme = readFileSync(path.join(process.cwd(), "README.md"), "utf8");
    const command = /```sh\nnpm ci\nnpx bitsmith (.+)\n```/.exec(readme);
    assert.ok(command, "the quick start is `npm ci` and one `npx bitsmith` command");
    const args = command[1]!.split(" ").map((a) => (a.endsWith(".gguf") ? path.join(dir, a) : a));
    const r = runCli(...args, "--quiet");
    assert.equal(r.status, 0, r.stderr);
    const out = args.find((a) => a.endsWith(".gguf"))!;
    const model = await openModel(nodeFileSystem, out);
    const types = new Set(model.tensors.map((t) => t.type.name));
    await model.close();
    assert.ok(types.has("Q4_K") && types.has("Q6_K"), [...types].join(","));
    assert.equal((await greedyTokens(out, "once upon a time", 4)).length, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
