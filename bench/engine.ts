/**
 * Engine throughput on 1 and 2 threads (the Node kernels: WebAssembly SIMD with relaxed-SIMD FMA): evaluation (perplexity-style forward passes, logits for every position)
 * and generation (one token per step with a KV cache), in tokens/s and achieved GFLOP/s. The synthetic model also
 * runs on the native paths where present ("synthetic2048_native": large products on bitsmith's addon, also with
 * Q4_0 matrices, "synthetic2048_q4_0_native", whose float64 sums only the addon has; "synthetic2048_onnxruntime":
 * on onnxruntime's MLAS); stories260K's products are too small for them.
 *  - stories260K (the reference GGUF, f32 and Q4_0): llama-perplexity's protocol at ctx 128 on ts-head20k;
 *  - a synthetic Llama (hidden 2048, ffn 5632, 2 layers, 32 heads / 8 KV heads, vocab 32000, F16 matrices, and
 *    the same with Q4_0 matrices ("synthetic2048_q4_0": llama.cpp's 8-bit activations, float64 sums),
 *    random weights generated in memory): one 128-token forward and a few generated tokens.
 * FLOPs count the useful multiply-adds (2 per weight per token, causal attention's n(n+1)/2 score pairs).
 * Run directly: node dist/bench/engine.js
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { MemoryByteSource, SeededRandom, tensorType } from "../src/core/index.js";
import type { LlamaHParams, ModelSource, TensorRef, TensorTypeInfo } from "../src/core/index.js";
import { requireCodec } from "../src/codecs/index.js";
import { LlamaEngine } from "../src/engine/index.js";
import type { Kernels } from "../src/kernels/index.js";
import { createNodeKernels, nativeBackends } from "../src/node/kernels.js";
import { evaluatePerplexity } from "../src/eval/index.js";
import { openGgufModel } from "../src/formats/gguf/index.js";
import { nodeFileSystem } from "../src/node/fs.js";

const REFERENCE = process.env.BITSMITH_SHARED_DATA ? path.join(process.env.BITSMITH_SHARED_DATA, "reference") : path.resolve("../shared/data/reference");

/** Multiply-add FLOPs of one forward over `n` new tokens after `past` cached ones, with `outputs` logit rows. */
function forwardFlops(h: LlamaHParams, n: number, past: number, outputs: number): number {
  const qDim = h.numHeads * h.headDim;
  const kvDim = h.numKvHeads * h.headDim;
  const perToken = h.numLayers * (2 * h.hiddenSize * qDim + 2 * h.hiddenSize * kvDim + 3 * h.hiddenSize * h.intermediateSize);
  // Query i attends to past + i + 1 keys: QKᵀ and P·V, per head.
  const pairs = n * past + (n * (n + 1)) / 2;
  const attention = h.numLayers * h.numHeads * 2 * pairs * h.headDim;
  return 2 * (n * perToken + outputs * h.vocabSize * h.hiddenSize + attention);
}

async function benchStories(variant: string, kernels: Kernels, out: Record<string, number>): Promise<void> {
  const file = path.join(REFERENCE, "models", `stories260K-${variant}.gguf`);
  const tokens: number[] = JSON.parse(readFileSync(path.join(REFERENCE, "perplexity", "ts-head20k.tokens.json"), "utf8")).tokens;
  const model = await openGgufModel(nodeFileSystem, file);
  const engine = await LlamaEngine.create(model, { kernels });
  const ctx = 128;
  const chunks = 40;
  await evaluatePerplexity(engine, tokens, { ctx, bosId: 1, maxChunks: 4 }); // warm-up
  const r = await evaluatePerplexity(engine, tokens, { ctx, bosId: 1, maxChunks: chunks });
  const flops = chunks * forwardFlops(engine.hparams, ctx, 0, ctx - ctx / 2);
  out[`stories260K_${variant}.t${kernels.threads}.eval_tokens_per_s`] = r.tokensEvaluated / r.seconds;
  out[`stories260K_${variant}.t${kernels.threads}.eval_gflops`] = flops / r.seconds / 1e9;
  await model.close();
}

const SYNTHETIC: LlamaHParams = {
  vocabSize: 32000,
  hiddenSize: 2048,
  intermediateSize: 5632,
  numLayers: 2,
  numHeads: 32,
  numKvHeads: 8,
  headDim: 64,
  contextLength: 2048,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  tieWordEmbeddings: false,
  attentionBias: false,
};

/** An in-memory GGUF-named Llama with random weights (matrices of `matrixType`, F32 norms). */
function syntheticLlama(h: LlamaHParams, seed: number, matrixType = "F16"): ModelSource {
  const rnd = new SeededRandom(seed);
  const matrix = tensorType(matrixType)!;
  const F32 = tensorType("F32")!;
  const tensor = (name: string, shape: number[], type: TensorTypeInfo, fill: (n: number) => Float32Array): TensorRef => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = fill(n);
    const bytes = type === F32 ? new Uint8Array(values.buffer) : requireCodec(type.name).quantize(values, n / shape.at(-1)!, shape.at(-1)!);
    const src = new MemoryByteSource(bytes, name);
    return { name, type, shape, byteLength: bytes.length, read: async (o = 0, l = bytes.length - o) => src.read(o, l) };
  };
  // Uniform in ±sqrt(3)·std (cheaper than normals, same variance).
  const weights = (n: number, std = 0.02) => {
    const a = new Float32Array(n);
    const w = 2 * Math.sqrt(3) * std;
    for (let i = 0; i < n; i++) a[i] = (rnd.next() - 0.5) * w;
    return a;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const q = h.numHeads * h.headDim;
  const kv = h.numKvHeads * h.headDim;
  const tensors = [tensor("token_embd.weight", [h.vocabSize, h.hiddenSize], matrix, (n) => weights(n, 1))];
  for (let l = 0; l < h.numLayers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      tensor(p + "attn_norm.weight", [h.hiddenSize], F32, ones),
      tensor(p + "attn_q.weight", [q, h.hiddenSize], matrix, weights),
      tensor(p + "attn_k.weight", [kv, h.hiddenSize], matrix, weights),
      tensor(p + "attn_v.weight", [kv, h.hiddenSize], matrix, weights),
      tensor(p + "attn_output.weight", [h.hiddenSize, q], matrix, weights),
      tensor(p + "ffn_norm.weight", [h.hiddenSize], F32, ones),
      tensor(p + "ffn_gate.weight", [h.intermediateSize, h.hiddenSize], matrix, weights),
      tensor(p + "ffn_up.weight", [h.intermediateSize, h.hiddenSize], matrix, weights),
      tensor(p + "ffn_down.weight", [h.hiddenSize, h.intermediateSize], matrix, weights),
    );
  }
  tensors.push(tensor("output_norm.weight", [h.hiddenSize], F32, ones), tensor("output.weight", [h.vocabSize, h.hiddenSize], matrix, weights));
  return { format: "gguf", name: "synthetic-llama-2048", tensors, metadata: new Map(), info: { architecture: "llama", hparams: h }, close: async () => {} };
}

async function benchSynthetic(kernels: Kernels, out: Record<string, number>, label = "synthetic2048", matrixType = "F16"): Promise<void> {
  const h = SYNTHETIC;
  const engine = await LlamaEngine.create(syntheticLlama(h, 1, matrixType), { kernels });
  const t = kernels.threads;
  const n = 128;
  const rnd = new SeededRandom(2);
  const tokens = Array.from({ length: n }, () => rnd.int(h.vocabSize));
  // Best of three whole passes: the first also pays for first-use costs (V8 tiers, onnxruntime's allocations).
  let seconds = Infinity;
  for (let run = 0; run < 3; run++) {
    const start = performance.now();
    await engine.forward(tokens);
    seconds = Math.min(seconds, (performance.now() - start) / 1000);
  }
  out[`${label}.t${t}.eval_tokens_per_s`] = n / seconds;
  out[`${label}.t${t}.eval_gflops`] = forwardFlops(h, n, 0, n) / seconds / 1e9;

  const cache = engine.newCache(n + 8);
  await engine.forward(tokens.slice(0, 32), { caches: [cache], logits: "last" });
  const steps = 4;
  const start = performance.now();
  for (let i = 0; i < steps; i++) await engine.forward([tokens[32 + i]!], { caches: [cache], logits: "last" });
  seconds = (performance.now() - start) / 1000;
  let flops = 0;
  for (let i = 0; i < steps; i++) flops += forwardFlops(h, 1, 32 + i, 1);
  out[`${label}.t${t}.generate_tokens_per_s`] = steps / seconds;
  out[`${label}.t${t}.generate_gflops`] = flops / seconds / 1e9;
}

export async function benchEngine(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const threads of [1, 2]) {
    const kernels = await createNodeKernels({ threads, kind: "wasm" });
    try {
      await benchStories("f32", kernels, out);
      await benchStories("Q4_0", kernels, out);
      await benchSynthetic(kernels, out);
      await benchSynthetic(kernels, out, "synthetic2048_q4_0", "Q4_0");
    } finally {
      await kernels.close();
    }
    for (const kind of nativeBackends()) {
      const native = await createNodeKernels({ threads, kind });
      try {
        await benchSynthetic(native, out, `synthetic2048_${kind}`);
        // Float64 sums (quantized weights) go native on the addon only.
        if (kind === "native") await benchSynthetic(native, out, "synthetic2048_q4_0_native", "Q4_0");
      } finally {
        await native.close();
      }
    }
  }
  return out;
}

if (process.argv[1]?.endsWith("engine.js")) {
  const result = await benchEngine();
  console.log(JSON.stringify(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Number(v.toPrecision(4))])), null, 1));
}
