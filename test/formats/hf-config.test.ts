import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { BitsmithError } from "../../src/core/index.js";
import { parseGenerationConfig, parseHfConfig } from "../../src/formats/hf/index.js";
import { FIXTURES, hasSharedData } from "../helpers/paths.js";

const json = (o: unknown) => JSON.stringify(o);

// meta-llama/Llama-3.1-8B config.json as published (the keys that matter here).
const LLAMA_31_8B = {
  architectures: ["LlamaForCausalLM"],
  model_type: "llama",
  hidden_size: 4096,
  intermediate_size: 14336,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 8,
  max_position_embeddings: 131072,
  rms_norm_eps: 1e-5,
  rope_theta: 500000.0,
  rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: "llama3" },
  tie_word_embeddings: false,
  attention_bias: false,
  vocab_size: 128256,
  bos_token_id: 128000,
  eos_token_id: 128001,
};

test("Llama 3.1: hyperparameters and llama3 rope scaling", () => {
  const c = parseHfConfig(json(LLAMA_31_8B));
  assert.equal(c.modelType, "llama");
  assert.equal(c.architecture, "llama");
  assert.deepEqual(c.hparams, {
    vocabSize: 128256,
    hiddenSize: 4096,
    intermediateSize: 14336,
    numLayers: 32,
    numHeads: 32,
    numKvHeads: 8,
    headDim: 128,
    contextLength: 131072,
    rmsNormEps: 1e-5,
    ropeTheta: 500000,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192 },
    tieWordEmbeddings: false,
    attentionBias: false,
  });
  assert.equal(c.slidingWindow, undefined);
  assert.equal(c.raw.bos_token_id, 128000);
});

test("llama3 rope scaling without its factors takes llama.cpp's defaults (8, 1, 4)", () => {
  const c = parseHfConfig(json({ ...LLAMA_31_8B, rope_scaling: { type: "llama3" } }));
  assert.deepEqual(c.hparams.ropeScaling, { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: undefined });
});

test("Mistral 7B v0.1: converts as llama, sliding window noted", () => {
  const c = parseHfConfig(
    json({
      model_type: "mistral",
      hidden_size: 4096,
      intermediate_size: 14336,
      num_hidden_layers: 32,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      max_position_embeddings: 32768,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      sliding_window: 4096,
      tie_word_embeddings: false,
      vocab_size: 32000,
    }),
  );
  assert.equal(c.modelType, "mistral");
  assert.equal(c.architecture, "llama");
  assert.equal(c.slidingWindow, 4096);
  assert.equal(c.hparams.numKvHeads, 8);
  assert.equal(c.hparams.attentionBias, false);
  assert.equal(parseHfConfig(json({ model_type: "mistral", hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 2, vocab_size: 9, sliding_window: null })).slidingWindow, undefined);
});

test("Qwen2.5-0.5B: q/k/v biases, tied embeddings, large rope theta", () => {
  const c = parseHfConfig(
    json({
      model_type: "qwen2",
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      max_position_embeddings: 32768,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      sliding_window: 32768,
      use_sliding_window: false,
      tie_word_embeddings: true,
      vocab_size: 151936,
    }),
  );
  assert.equal(c.architecture, "qwen2");
  assert.equal(c.hparams.headDim, 64);
  assert.equal(c.hparams.attentionBias, true);
  assert.equal(c.hparams.tieWordEmbeddings, true);
  assert.equal(c.hparams.ropeTheta, 1e6);
  assert.equal(c.slidingWindow, undefined);
});

const MINIMAL = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, vocab_size: 100 };

test("absent keys take the defaults of transformers' config class for the model type", () => {
  const llama = parseHfConfig(json({ model_type: "llama", ...MINIMAL })).hparams;
  assert.deepEqual(
    [llama.numKvHeads, llama.headDim, llama.ropeTheta, llama.rmsNormEps, llama.contextLength, llama.tieWordEmbeddings, llama.ropeScaling],
    [4, 16, 10000, 1e-6, 2048, false, undefined],
  );
  // MistralConfig and Qwen2Config default num_key_value_heads to 8 and 32 when the key is absent ...
  const mistral = parseHfConfig(json({ model_type: "mistral", ...MINIMAL, num_attention_heads: 16 })).hparams;
  assert.deepEqual([mistral.numKvHeads, mistral.contextLength], [8, 131072]);
  const qwen = parseHfConfig(json({ model_type: "qwen2", ...MINIMAL, num_attention_heads: 32 })).hparams;
  assert.deepEqual([qwen.numKvHeads, qwen.contextLength], [32, 32768]);
  // ... and to num_attention_heads when it is null.
  assert.equal(parseHfConfig(json({ model_type: "mistral", ...MINIMAL, num_key_value_heads: null })).hparams.numKvHeads, 4);
});

test("an explicit head_dim wins over hidden_size / num_attention_heads (Mistral Nemo)", () => {
  const c = parseHfConfig(json({ model_type: "mistral", ...MINIMAL, hidden_size: 5120, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128 }));
  assert.equal(c.hparams.headDim, 128);
});

test("rope_parameters (transformers 5) is read before rope_scaling, with its rope_theta", () => {
  const c = parseHfConfig(json({ model_type: "llama", ...MINIMAL, rope_theta: 1, rope_parameters: { rope_type: "default", rope_theta: 500000 }, rope_scaling: { type: "linear", factor: 2 } }));
  assert.equal(c.hparams.ropeTheta, 500000);
  assert.equal(c.hparams.ropeScaling, undefined);
});

test("linear and yarn rope scaling", () => {
  const linear = parseHfConfig(json({ model_type: "llama", ...MINIMAL, rope_scaling: { type: "linear", factor: 4 } }));
  assert.deepEqual(linear.hparams.ropeScaling, { type: "linear", factor: 4, originalContextLength: undefined });
  const yarn = parseHfConfig(json({ model_type: "qwen2", ...MINIMAL, num_key_value_heads: 4, rope_scaling: { type: "yarn", factor: 4, original_max_position_embeddings: 32768 } }));
  assert.deepEqual(yarn.hparams.ropeScaling, { type: "yarn", factor: 4, originalContextLength: 32768 });
  // llama.cpp only writes linear/yarn scaling when a factor is given.
  assert.equal(parseHfConfig(json({ model_type: "llama", ...MINIMAL, rope_scaling: { type: "linear" } })).hparams.ropeScaling, undefined);
});

function configError(text: string): BitsmithError {
  try {
    parseHfConfig(text, "dir/config.json");
  } catch (e) {
    assert.ok(e instanceof BitsmithError, String(e));
    assert.equal(e.file, "dir/config.json");
    return e;
  }
  throw new Error("no error");
}

test("unsupported model types are refused, naming config.json", { skip: !hasSharedData && "shared data not found" }, () => {
  const text = readFileSync(path.join(FIXTURES, "hf-tiny-random-gpt2-safetensors", "config.json"), "utf8");
  const e = configError(text);
  assert.equal(e.field, "model_type");
  assert.match(e.message, /unsupported architecture gpt2; supported: llama, mistral, qwen2/);
  assert.equal(configError(json({ ...MINIMAL })).field, "model_type");
});

test("missing or mistyped required fields are refused, naming the field", () => {
  for (const field of ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"]) {
    const missing = { model_type: "llama", ...MINIMAL } as Record<string, unknown>;
    delete missing[field];
    const e = configError(json(missing));
    assert.equal(e.field, field);
    assert.match(e.message, /is missing/);
    assert.equal(configError(json({ model_type: "llama", ...MINIMAL, [field]: "64" })).field, field);
  }
  assert.equal(configError(json({ model_type: "llama", ...MINIMAL, rms_norm_eps: "small" })).field, "rms_norm_eps");
  assert.equal(configError(json({ model_type: "llama", ...MINIMAL, tie_word_embeddings: 1 })).field, "tie_word_embeddings");
  assert.equal(configError(json({ model_type: "llama", ...MINIMAL, rope_scaling: { type: "llama3", factor: "8" } })).field, "rope_scaling.factor");
  assert.equal(configError(json({ model_type: "llama", ...MINIMAL, rope_scaling: { type: "yarn", factor: 2 } })).field, "rope_scaling.original_max_position_embeddings");
});

test("inconsistent head counts are refused", () => {
  assert.equal(configError(json({ model_type: "llama", ...MINIMAL, num_key_value_heads: 3 })).field, "num_key_value_heads");
  assert.equal(configError(json({ model_type: "llama", ...MINIMAL, hidden_size: 66 })).field, "head_dim");
});

test("malformed JSON and non-object JSON name the file", () => {
  assert.match(configError('{"model_type": "llama",').message, /^dir\/config\.json: malformed JSON/);
  assert.match(configError("[1, 2]").message, /not a JSON object/);
});

test("generation_config.json: bos, pad, and eos as one id or a list", () => {
  // meta-llama/Llama-3.1-8B-Instruct generation_config.json
  const g = parseGenerationConfig(json({ bos_token_id: 128000, do_sample: true, eos_token_id: [128001, 128008, 128009], temperature: 0.6, top_p: 0.9 }));
  assert.deepEqual([g.bosTokenId, g.eosTokenIds, g.padTokenId], [128000, [128001, 128008, 128009], undefined]);
  assert.equal(g.raw.temperature, 0.6);
});

test("generation_config.json of the GPT-2 fixture", { skip: !hasSharedData && "shared data not found" }, () => {
  const g = parseGenerationConfig(readFileSync(path.join(FIXTURES, "hf-tiny-random-gpt2-safetensors", "generation_config.json"), "utf8"));
  assert.deepEqual([g.bosTokenId, g.eosTokenIds, g.padTokenId], [98, [98], 98]);
});

test("generation_config.json errors name the file and field", () => {
  const fail = (text: string, field: string | undefined) =>
    assert.throws(() => parseGenerationConfig(text, "g.json"), (e: unknown) => e instanceof BitsmithError && e.file === "g.json" && e.field === field);
  fail("{", undefined);
  fail(json({ eos_token_id: [1, "2"] }), "eos_token_id[1]");
  fail(json({ bos_token_id: -1 }), "bos_token_id");
});
