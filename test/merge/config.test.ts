/**
 * mergekit YAML configurations: what they parse to, how parameter settings evaluate (gradients interpolated
 * across layers, filters matched by substring, as mergekit's evaluate_setting), and errors that name the key,
 * line and column.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { evaluateSetting, parseMergeConfig } from "../../src/merge/index.js";
import { BitsmithError } from "../../src/core/index.js";

const FILE = "merge.yaml";

test("a slerp configuration with slices, conditional gradients and dtype", () => {
  const c = parseMergeConfig(
    `slices:
  - sources:
      - model: ./a
        layer_range: [0, 32]
      - model: ./b
        layer_range: [0, 32]
merge_method: slerp
base_model: ./a
parameters:
  t:
    - filter: self_attn
      value: [0, 0.5, 0.3, 0.7, 1]
    - filter: mlp
      value: [1, 0.5, 0.7, 0.3, 0]
    - value: 0.5
dtype: bfloat16
tokenizer_source: base
chat_template: auto
`,
    FILE,
  );
  assert.equal(c.mergeMethod, "slerp");
  assert.equal(c.baseModel, "./a");
  assert.equal(c.dtype?.name, "BF16");
  assert.deepEqual(c.tokenizerSource, { kind: "base" });
  assert.equal(c.chatTemplate, "auto");
  assert.deepEqual(c.slices?.[0]?.sources.map((s) => [s.model, s.layerRange]), [["./a", [0, 32]], ["./b", [0, 32]]]);
  const t = c.parameters.get("t")!;
  // t = 0.375 on a 5-point gradient: position 1.5, halfway between 0.5 and 0.3 (self_attn) or 0.5 and 0.7 (mlp).
  assert.ok(Math.abs((evaluateSetting(t, ["model.layers.12.self_attn.q_proj.weight"], 0.375) as number) - 0.4) < 1e-12);
  assert.ok(Math.abs((evaluateSetting(t, ["model.layers.12.mlp.up_proj.weight"], 0.375) as number) - 0.6) < 1e-12);
  assert.equal(evaluateSetting(t, ["model.norm.weight"], 1), 0.5);
  assert.equal(evaluateSetting(t, ["model.layers.31.self_attn.o_proj.weight"], 1), 1);
});

test("settings: scalars, gradients, non-numeric lists, conditions without a match", () => {
  assert.equal(evaluateSetting(0.3, ["x"], 0.7), 0.3);
  // 3-point gradient at t = 0.25: position 0.5 between 0.2 and 0.6.
  assert.ok(Math.abs((evaluateSetting([0.2, 0.6, 1], ["x"], 0.25) as number) - 0.4) < 1e-12);
  // Non-numeric lists pick element int(t·(n-1)).
  assert.equal(evaluateSetting([true, false, false], ["x"], 0.49), true);
  assert.equal(evaluateSetting([true, false, false], ["x"], 0.5), false);
  assert.equal(evaluateSetting([{ filter: "mlp", value: 1 }], ["blk.0.attn_q.weight"], 0), undefined);
  // "*" matches everything; GGUF names are also matched through their Hugging Face names.
  assert.equal(evaluateSetting([{ filter: "*", value: 2 }], ["anything"], 0), 2);
});

test("per-model parameters, layer-wise gradients and YAML 1.1 booleans", () => {
  const c = parseMergeConfig(
    `merge_method: ties
base_model: base
models:
  - model: a
    parameters:
      density: [1, 0.7, 0.1]
      weight: 1.0
  - model: b
    parameters: {density: 0.5, weight: [0, 0.3, 0.7, 1]}
parameters:
  normalize: yes
  int8_mask: true
`,
    FILE,
  );
  assert.deepEqual(c.models?.map((m) => m.model), ["a", "b"]);
  assert.deepEqual(c.models?.[0]?.parameters.get("density"), [1, 0.7, 0.1]);
  assert.equal(c.parameters.get("normalize"), true);
});

function assertConfigError(text: string, ...mentions: string[]): void {
  assert.throws(
    () => parseMergeConfig(text, FILE),
    (e: unknown) => {
      assert.ok(e instanceof BitsmithError, String(e));
      assert.ok(e.message.startsWith(`${FILE}: `), e.message);
      for (const m of mentions) assert.ok(e.message.includes(m), `"${e.message}" should mention ${m}`);
      return true;
    },
  );
}

test("errors name the key, line and column", () => {
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\n    parameters: {weight: [1, 2\n", "YAML syntax error", "line 5, column 1");
  assertConfigError("merge_method: linear\nmodels:\n\t- model: a\n", "YAML syntax error", "line 3");
  assertConfigError("merge_method: linear\nmodles:\n  - model: a\n", 'unknown key "modles"', "line 2, column 1", "models");
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\n    weight: 1\n", "models[0].weight", 'unknown key "weight"', "line 4, column 5");
  assertConfigError(
    "merge_method: ties\nbase_model: b\nmodels:\n  - model: a\n    parameters:\n      weight: 1\n      density: 1.5\n",
    "models[0].parameters.density",
    "line 7, column 16",
    "between 0 and 1",
  );
  assertConfigError("merge_method: ties\nbase_model: b\nmodels:\n  - model: a\n    parameters:\n      density: [1, -0.1]\n", "density[1]", "between 0 and 1");
  assertConfigError("merge_method: ties\nmodels:\n  - model: a\n    parameters:\n      desnity: 0.5\n", 'ties has no parameter "desnity"', "weight, density");
  assertConfigError("merge_method: ties\nmodels:\n  - model: a\n    parameters:\n      normalize: true\n", "parameter of the whole merge");
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\nparameters:\n  normalize: 3\n", "parameters.normalize", "true or false");
  assertConfigError("merge_method: frankenstein\nmodels:\n  - model: a\n", "merge_method", 'unknown merge method "frankenstein"', "linear");
  assertConfigError("models:\n  - model: a\n", "merge_method", "missing");
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\nslices:\n  - sources: []\n", "exactly one of");
  assertConfigError("merge_method: passthrough\nslices:\n  - sources:\n      - model: a\n        layer_range: [4, 2]\n", "layer_range", "start < end");
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\ntokenizer_source: union\n", "union", "not supported");
  assertConfigError("merge_method: linear\nmodules:\n  text: {}\n", "modules", "not supported");
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\ndtype: float8\n", "dtype", "float8");
  assertConfigError("merge_method: linear\nmodels:\n  - model: a\nchat_template: chatml\n", "chat_template", "not bundled");
});
