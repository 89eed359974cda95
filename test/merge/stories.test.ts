/**
 * End to end on real weights: stories260K and two "fine-tuned" copies of it merged by `bitsmith merge` with
 * mergekit YAML configurations. Outputs must load (bitsmith, and llama.cpp through node-llama-cpp after
 * conversion to GGUF) and hold what each method promises, checked against values computed here from the inputs.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { mergeModels, parseMergeConfig } from "../../src/merge/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { openModel } from "../../src/model/open-model.js";
import { runCli } from "../helpers/cli.js";
import { greedyTokens } from "../helpers/llama-cpp.js";
import { STORIES_GGUF, perturbedCopy, storiesHf, tensorValues } from "./stories-fixtures.js";

let dir = "";
let base = "";
let p1 = "";
let p2 = "";
const PROMPT = "Once upon a time";

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-merge-"));
  base = path.join(dir, "base");
  p1 = path.join(dir, "p1");
  p2 = path.join(dir, "p2");
  await storiesHf(base);
  await perturbedCopy(base, p1, { seed: 1 });
  await perturbedCopy(base, p2, { seed: 2 });
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `yaml` to a config file and runs `bitsmith merge` on it; returns the output path. */
function merge(name: string, yaml: string, out = path.join(dir, name), ...flags: string[]): string {
  const config = path.join(dir, `${name}.yaml`);
  writeFileSync(config, yaml);
  const r = runCli("merge", config, out, "--quiet", ...flags);
  assert.equal(r.status, 0, r.stderr);
  return out;
}

/** Converts a merged HF directory to GGUF and lets llama.cpp generate from it. */
async function llamaCppRuns(hfDir: string): Promise<number[]> {
  const gguf = `${hfDir}.gguf`;
  const r = runCli("convert", hfDir, gguf, "--quiet");
  assert.equal(r.status, 0, r.stderr);
  const tokens = await greedyTokens(gguf, PROMPT, 8);
  assert.equal(tokens.length, 8);
  return tokens;
}

function maxAbsDiff(a: Float32Array, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test("linear: every tensor is the weighted average of the inputs; the output runs in llama.cpp", async () => {
  const out = merge(
    "linear",
    `merge_method: linear
models:
  - model: ${base}
    parameters: {weight: 0.5}
  - model: ${p1}
    parameters: {weight: 0.3}
  - model: ${p2}
    parameters: {weight: 0.2}
`,
  );
  const [m, b, x, y] = await Promise.all([out, base, p1, p2].map(tensorValues));
  assert.equal(m.size, b.size);
  for (const [name, v] of m) {
    const expected = v.map((_, i) => 0.5 * b.get(name)![i]! + 0.3 * x.get(name)![i]! + 0.2 * y.get(name)![i]!);
    assert.ok(maxAbsDiff(v, expected) < 1e-6, name);
  }
  const config = JSON.parse(readFileSync(path.join(out, "config.json"), "utf8"));
  assert.equal(config.num_hidden_layers, 5);
  assert.ok(existsSync(path.join(out, "tokenizer.json")) && existsSync(path.join(out, "tokenizer.model")));
  await llamaCppRuns(out);
});

test("linear of a model with itself gives llama.cpp the same tokens as the model", async () => {
  const out = merge("self", `merge_method: linear\nmodels:\n  - model: ${base}\n    parameters: {weight: 2}\n  - model: ${base}\n    parameters: {weight: 1}\n`);
  assert.deepEqual(await llamaCppRuns(out), await greedyTokens(STORIES_GGUF, PROMPT, 8));
});

test("ties: each element moves towards the elected sign, within the agreeing deltas", async () => {
  const out = merge(
    "ties",
    `merge_method: ties
base_model: ${base}
models:
  - model: ${p1}
    parameters: {weight: 0.5, density: 0.5}
  - model: ${p2}
    parameters: {weight: 0.5, density: 0.5}
`,
  );
  const [m, b, x, y] = await Promise.all([out, base, p1, p2].map(tensorValues));
  let changed = 0;
  let total = 0;
  for (const [name, v] of m) {
    const bv = b.get(name)!;
    for (let i = 0; i < v.length; i++) {
      const d = v[i]! - bv[i]!;
      const d1 = x.get(name)![i]! - bv[i]!;
      const d2 = y.get(name)![i]! - bv[i]!;
      // Normalized TIES: a weighted mean of some of {d1, d2} (or 0), so within their hull with 0.
      assert.ok(d >= Math.min(0, d1, d2) - 1e-6 && d <= Math.max(0, d1, d2) + 1e-6, `${name}[${i}]`);
      if (d !== 0) changed++;
      total++;
    }
  }
  // Each delta keeps half its values; about 3/4 of the elements keep at least one, most of those agree.
  assert.ok(changed / total > 0.5 && changed / total < 0.8, `changed ${changed / total}`);
  await llamaCppRuns(out);
});

test("dare_ties: the same --random-seed gives the same bytes, another seed other drops", async () => {
  const yaml = `merge_method: dare_ties
base_model: ${base}
models:
  - model: ${p1}
    parameters: {weight: 0.6, density: 0.4}
  - model: ${p2}
    parameters: {weight: 0.4, density: 0.4}
dtype: float32
`;
  const a = merge("dare-a", yaml, undefined, "--random-seed", "5");
  const b = merge("dare-b", yaml, undefined, "--random-seed", "5");
  const c = merge("dare-c", yaml, undefined, "--random-seed", "6");
  const bytes = (d: string) => readFileSync(path.join(d, "model.safetensors"));
  assert.ok(bytes(a).equals(bytes(b)));
  assert.ok(!bytes(a).equals(bytes(c)));
  await llamaCppRuns(a);
});

test("slerp straight to GGUF, base as Hugging Face and the other as GGUF: t=0 layers are the base, t=1 the other", async () => {
  const p1Gguf = path.join(dir, "p1-input.gguf");
  assert.equal(runCli("convert", p1, p1Gguf, "--quiet").status, 0);
  const baseGguf = path.join(dir, "base-input.gguf");
  assert.equal(runCli("convert", base, baseGguf, "--quiet").status, 0);
  const out = merge(
    "slerp",
    `merge_method: slerp
base_model: ${base}
models:
  - model: ${base}
  - model: ${p1Gguf}
parameters:
  t: [0, 0.5, 1]
`,
    path.join(dir, "slerp.gguf"),
  );
  const [m, b, x] = await Promise.all([out, baseGguf, p1Gguf].map(tensorValues));
  // 5 layers: t = 0, 0.25, 0.5, 0.75, 1; embeddings t = 0; final norm and output t = 1.
  for (const name of ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight"]) assert.deepEqual(m.get(name), b.get(name), name);
  for (const name of ["output.weight", "output_norm.weight", "blk.4.attn_k.weight", "blk.4.ffn_up.weight"]) assert.deepEqual(m.get(name), x.get(name), name);
  const mid = m.get("blk.2.ffn_gate.weight")!;
  assert.ok(maxAbsDiff(mid, b.get("blk.2.ffn_gate.weight")!) > 0 && maxAbsDiff(mid, x.get("blk.2.ffn_gate.weight")!) > 0);
  const tokens = await greedyTokens(out, PROMPT, 8);
  assert.equal(tokens.length, 8);
});

test("passthrough with layer_range stacks layers into a deeper model that llama.cpp runs", async () => {
  const out = merge(
    "stack",
    `merge_method: passthrough
slices:
  - sources:
      - model: ${base}
        layer_range: [0, 3]
  - sources:
      - model: ${p1}
        layer_range: [2, 5]
dtype: float16
`,
  );
  const config = JSON.parse(readFileSync(path.join(out, "config.json"), "utf8"));
  assert.equal(config.num_hidden_layers, 6);
  assert.equal(config.torch_dtype, "float16");
  const [m, b, x] = await Promise.all([out, base, p1].map(tensorValues));
  // dtype float16: the copies are the inputs rounded to F16.
  const close = (a: Float32Array, e: Float32Array) => maxAbsDiff(a, e) <= 1e-3 * Math.max(...e.map(Math.abs));
  assert.ok(close(m.get("model.layers.1.mlp.up_proj.weight")!, b.get("model.layers.1.mlp.up_proj.weight")!));
  assert.ok(close(m.get("model.layers.3.mlp.up_proj.weight")!, x.get("model.layers.2.mlp.up_proj.weight")!));
  assert.ok(close(m.get("model.layers.5.self_attn.q_proj.weight")!, x.get("model.layers.4.self_attn.q_proj.weight")!));
  assert.ok(close(m.get("model.embed_tokens.weight")!, b.get("model.embed_tokens.weight")!));
  assert.ok(close(m.get("lm_head.weight")!, x.get("lm_head.weight")!));
  await llamaCppRuns(out);
});

test("the other methods run on real weights and their outputs load", async () => {
  const models = (params: string) => `models:\n  - model: ${p1}\n    parameters: ${params}\n  - model: ${p2}\n    parameters: ${params}\n`;
  const configs: Record<string, string> = {
    task_arithmetic: `merge_method: task_arithmetic\nbase_model: ${base}\n${models("{weight: 0.5}")}parameters: {lambda: 0.8}\n`,
    dare_linear: `merge_method: dare_linear\nbase_model: ${base}\n${models("{weight: 0.5, density: 0.7}")}`,
    breadcrumbs: `merge_method: breadcrumbs\nbase_model: ${base}\n${models("{weight: 0.5, density: 0.9, gamma: 0.01}")}`,
    breadcrumbs_ties: `merge_method: breadcrumbs_ties\nbase_model: ${base}\n${models("{weight: 0.5, density: 0.9, gamma: 0.01}")}`,
    model_stock: `merge_method: model_stock\nbase_model: ${base}\nmodels:\n  - model: ${p1}\n  - model: ${p2}\n`,
  };
  for (const [name, yaml] of Object.entries(configs)) {
    // Through the library: the same code the command runs, without starting a process per method.
    const out = path.join(dir, name);
    await mergeModels(nodeFileSystem, parseMergeConfig(yaml, `${name}.yaml`), out);
    const m = await tensorValues(out);
    assert.equal(m.size, 48, name);
    for (const [t, v] of m) assert.ok(v.every(Number.isFinite), `${name} ${t}`);
  }
});

test("sharded output with --out-shard-size, and a larger vocabulary resolved by tokenizer_source", async () => {
  const wide = path.join(dir, "wide");
  await perturbedCopy(base, wide, { seed: 3, extraRows: 8 });
  const yaml = `merge_method: linear\nbase_model: ${base}\nmodels:\n  - model: ${base}\n    parameters: {weight: 1}\n  - model: ${wide}\n    parameters: {weight: 1}\n`;
  const config = path.join(dir, "wide.yaml");
  writeFileSync(config, yaml);
  const refused = runCli("merge", config, path.join(dir, "wide-out"));
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /model\.embed_tokens\.weight: tensor shapes differ: .*base \[512, 64\], .*wide \[520, 64\]; the vocabularies differ: set tokenizer_source/);
  assert.equal(existsSync(path.join(dir, "wide-out")), false);

  const out = merge("wide-base", yaml + "tokenizer_source: base\n", undefined, "--out-shard-size", "300K");
  const files = readdirSync(out);
  assert.ok(files.includes("model.safetensors.index.json") && files.filter((f) => f.endsWith(".safetensors")).length >= 3, files.join(", "));
  const [m, b, w] = await Promise.all([out, base, wide].map(tensorValues));
  assert.deepEqual(m.get("model.embed_tokens.weight")!.length, 512 * 64);
  const expected = b.get("lm_head.weight")!.map((v, i) => (v + w.get("lm_head.weight")![i]!) / 2);
  assert.ok(maxAbsDiff(m.get("lm_head.weight")!, expected) < 1e-6);
  assert.equal(JSON.parse(readFileSync(path.join(out, "config.json"), "utf8")).vocab_size, 512);

  // The sharded output is an input like any other.
  const again = path.join(dir, "from-shards");
  await mergeModels(nodeFileSystem, parseMergeConfig(`merge_method: linear\nmodels:\n  - model: ${out}\n    parameters: {weight: 1}\n`, "s.yaml"), again);
  assert.deepEqual(await tensorValues(again), m);
});

test("chat_template reaches tokenizer_config.json and the GGUF's tokenizer.chat_template", async () => {
  const template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}";
  const yaml = `merge_method: linear\nmodels:\n  - model: ${base}\n    parameters: {weight: 1}\n  - model: ${p1}\n    parameters: {weight: 1}\nchat_template: "${template}"\n`;
  const hf = path.join(dir, "templated");
  await mergeModels(nodeFileSystem, parseMergeConfig(yaml, "t.yaml"), hf);
  assert.equal(JSON.parse(readFileSync(path.join(hf, "tokenizer_config.json"), "utf8")).chat_template, template);
  const gguf = path.join(dir, "templated.gguf");
  await mergeModels(nodeFileSystem, parseMergeConfig(yaml, "t.yaml"), gguf);
  for (const out of [hf, gguf]) {
    const m = await openModel(nodeFileSystem, out);
    assert.equal(m.info.tokenizer?.chatTemplate, template, out);
    assert.equal(m.info.tokenizer?.tokens.length, 512);
    await m.close();
  }
});
