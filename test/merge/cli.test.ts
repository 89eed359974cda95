/**
 * `bitsmith merge`, `diff` and `apply` as a user runs them: task vectors that round-trip, and for bad input a
 * clear error naming the file, key or tensor, exit status 1, and no output left behind.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runCli } from "../helpers/cli.js";
import { perturbedCopy, storiesHf, tensorValues } from "./stories-fixtures.js";

let dir = "";
let base = "";
let tuned = "";
let odd = "";

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-merge-cli-"));
  base = path.join(dir, "base");
  tuned = path.join(dir, "tuned");
  odd = path.join(dir, "odd");
  await storiesHf(base);
  await perturbedCopy(base, tuned, { seed: 1 });
  await perturbedCopy(base, odd, { seed: 2, reshape: { "model.layers.2.mlp.up_proj.weight": [86, 128] } });
});

after(() => rmSync(dir, { recursive: true, force: true }));

function outDir(): string {
  const d = mkdtempSync(path.join(dir, "out-"));
  return d;
}

/** A failed run: exit 1, one "bitsmith: error:" line mentioning each of `mentions`, and `out` left empty. */
function assertFails(args: string[], mentions: string[], out: string): void {
  const r = runCli(...args);
  assert.equal(r.status, 1, `exit status; stderr: ${r.stderr}`);
  assert.match(r.stderr, /^bitsmith: error: /m);
  for (const m of mentions) assert.ok(r.stderr.includes(m), `stderr should mention ${JSON.stringify(m)}: ${r.stderr}`);
  assert.deepEqual(readdirSync(out), [], "no output may be left behind");
}

function config(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(dir, "cfg-")), "merge.yaml");
  writeFileSync(file, yaml);
  return file;
}

const twoModels = (params: string) => `models:\n  - model: ${base}\n    parameters: ${params}\n  - model: ${tuned}\n    parameters: ${params}\n`;

test("bad merge configurations and inputs: exit 1, the key or tensor named, nothing written", () => {
  const cases: [string, string[]][] = [
    [`merge_method: linear\n${twoModels("{weight: [1, 2}")}`, ["merge.yaml", "YAML syntax error", "line 4, column"]],
    [`merge_method: ties\n${twoModels("{weight: 1, density: 0.5}")}`, ["base_model", "ties needs base_model"]],
    [`merge_method: ties\nbase_model: ${base}\n${twoModels("{weight: 1, density: 1.5}")}`, ["models[0].parameters.density (line 5, column", "between 0 and 1, got 1.5"]],
    [`merge_method: passthrough\nslices:\n  - sources:\n      - model: ${base}\n        layer_range: [0, 9]\n`, ["slices[0].sources[0].layer_range", "[0, 9] is beyond", "which has 5 layers"]],
    [`merge_method: linear\n${twoModels("{weight: 1}")}normalise: true\n`, ['unknown key "normalise"', "line 7, column 1"]],
    [`merge_method: linear\nmodels:\n  - model: ${base}\n    parameters: {weight: 1}\n  - model: ${odd}\n    parameters: {weight: 1}\n`, ["model.layers.2.mlp.up_proj.weight", "[172, 64]", "[86, 128]"]],
    [`merge_method: linear\nmodels:\n  - model: ${path.join(dir, "nowhere")}\n    parameters: {weight: 1}\n`, ["nowhere", "no such file"]],
  ];
  cases.forEach(([yaml, mentions], i) => {
    // Alternately to a Hugging Face directory and to a GGUF file.
    const out = outDir();
    assertFails(["merge", config(yaml), path.join(out, i % 2 ? "merged.gguf" : "merged")], mentions, out);
  });
  const out = outDir();
  assertFails(["merge", config(`merge_method: linear\n${twoModels("{weight: 1}")}`), path.join(out, "m"), "--dtype", "int4"], ["--dtype", "int4"], out);
  assertFails(["merge", path.join(dir, "missing.yaml"), path.join(out, "m")], ["missing.yaml"], out);
});

test("diff then apply gives the tuned model back; scale 0 gives the base; a GGUF base takes the same task vector", async () => {
  const delta = path.join(dir, "delta");
  const r = runCli("diff", tuned, base, "-o", delta, "--quiet");
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(path.join(delta, "config.json")) && existsSync(path.join(delta, "tokenizer.json")));
  const [d, t, b] = await Promise.all([delta, tuned, base].map(tensorValues));
  for (const [name, v] of d) assert.deepEqual(v, t.get(name)!.map((x, i) => x - b.get(name)![i]!), name);

  const back = path.join(dir, "back");
  assert.equal(runCli("apply", base, delta, "--scale", "1", "-o", back, "--quiet").status, 0);
  const same = path.join(dir, "same");
  assert.equal(runCli("apply", base, delta, "--scale", "0", "-o", same, "--quiet").status, 0);
  const half = path.join(dir, "half.gguf");
  const baseGguf = path.join(dir, "base.gguf");
  assert.equal(runCli("convert", base, baseGguf, "--quiet").status, 0);
  const h = runCli("apply", baseGguf, delta, "--scale", "0.5", "-o", half, "--quiet");
  assert.equal(h.status, 0, h.stderr);

  const [k, s, hv, bg] = await Promise.all([back, same, half, baseGguf].map(tensorValues));
  const tunedGguf = path.join(dir, "tuned.gguf");
  assert.equal(runCli("convert", tuned, tunedGguf, "--quiet").status, 0);
  const tg = await tensorValues(tunedGguf);
  for (const [name, v] of k) {
    const want = t.get(name)!;
    // base + (tuned - base) in float32: within a rounding of tuned.
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i]! - want[i]!) <= 1e-6 * Math.max(1, Math.abs(want[i]!)), `${name}[${i}]`);
    assert.deepEqual(s.get(name), b.get(name), name);
  }
  for (const [name, v] of hv) {
    const want = bg.get(name)!.map((x, i) => x + 0.5 * (tg.get(name)![i]! - x));
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(v[i]! - want[i]!) <= 1e-6, `${name}[${i}]`);
  }
});

test("diff and apply refuse models that do not pair up", () => {
  let out = outDir();
  assertFails(["diff", odd, base, "-o", path.join(out, "delta")], ["model.layers.2.mlp.up_proj.weight", "[86, 128]", "[172, 64]"], out);
  out = outDir();
  assertFails(["apply", base, odd, "-o", path.join(out, "x.gguf")], ["model.layers.2.mlp.up_proj.weight", "shapes differ"], out);
  out = outDir();
  assertFails(["apply", base, base, "--scale", "abc", "-o", path.join(out, "x")], ["--scale"], out);
});
