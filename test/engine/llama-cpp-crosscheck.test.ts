/**
 * Architecture variants the reference files do not cover, checked against llama.cpp itself (node-llama-cpp's
 * bundled build, f32 KV cache, flash attention off): stories260K's weights re-labelled as qwen2 with q/k/v
 * biases (NeoX RoPE), with a llama 3 `rope_freqs.weight` tensor, and with linear rope scaling. node-llama-cpp
 * reports next-token probabilities (temperature 1, no truncation), so log-probabilities are compared, for
 * every token with probability above 1e-6. A wrong RoPE pairing or scaling moves them by whole units; the
 * tolerance is 1e-3.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import type { TensorTypeInfo } from "../../src/core/index.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { normalizeRow } from "../../src/eval/index.js";
import { GgufWriter, gguf, openGgufModel } from "../../src/formats/gguf/index.js";
import type { GgufValue } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { hasSharedData } from "../helpers/paths.js";
import { logitsTokens, openStories } from "./reference-data.js";

const F32 = tensorType("F32")!;

interface Variant {
  architecture?: string;
  keys?: Record<string, GgufValue>;
  extraTensors?: { name: string; shape: number[]; values: Float32Array }[];
}

/** Writes stories260K-f32 with the variant's architecture name (keys renamed), extra keys and tensors. */
async function writeVariant(file: string, v: Variant): Promise<void> {
  const base = await openStories("f32");
  const arch = v.architecture ?? "llama";
  const w = new GgufWriter();
  for (const [k, value] of base.metadata) {
    if (k === "general.architecture") w.set(k, gguf.str(arch));
    else w.set(k.startsWith("llama.") ? arch + k.slice(5) : k, value);
  }
  for (const [k, value] of Object.entries(v.keys ?? {})) w.set(k, value);
  for (const t of base.tensors) w.addTensor({ name: t.name, type: t.type, shape: t.shape, data: () => t.read() });
  for (const t of v.extraTensors ?? []) {
    const values = t.values;
    w.addTensor({ name: t.name, type: F32 as TensorTypeInfo, shape: t.shape, data: async () => new Uint8Array(values.buffer.slice(0)) });
  }
  const sink = await nodeFileSystem.create(file);
  await w.write(sink);
  await base.close();
}

async function loadLlamaCpp(): Promise<any | undefined> {
  try {
    const { getLlama } = await import("node-llama-cpp");
    return await getLlama({ gpu: false, build: "never", logLevel: "error" } as any);
  } catch {
    return undefined;
  }
}

/** llama.cpp's next-token probabilities at every position of `tokens`, [tokens × vocab]. */
async function llamaCppProbabilities(llama: any, file: string, tokens: number[], vocab: number): Promise<Float64Array> {
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({
    contextSize: 256,
    batchSize: 256,
    flashAttention: false,
    threads: 1,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  // One extra token: node-llama-cpp evaluates the final item of a batch separately.
  const plain = { temperature: 1, topK: 0, topP: 1, minP: 0 };
  const res = await ctx.getSequence().controlledEvaluate([...tokens, tokens[0]].map((t) => [t, { generateNext: { probabilities: true, options: plain } }]));
  const out = new Float64Array(tokens.length * vocab);
  for (let i = 0; i < tokens.length; i++) for (const [id, p] of res[i].next.probabilities as Map<number, number>) out[i * vocab + id] = p;
  await ctx.dispose();
  await model.dispose();
  return out;
}

const rnd = new SeededRandom(5);
const bias = (n: number) => rnd.fillNormal(new Float32Array(n), 0.5);

const variants: [string, Variant][] = [
  [
    "qwen2 (NeoX RoPE, q/k/v biases, rope base 1e6)",
    {
      architecture: "qwen2",
      keys: { "qwen2.rope.freq_base": gguf.f32(1e6) },
      extraTensors: [0, 1, 2, 3, 4].flatMap((l) => [
        { name: `blk.${l}.attn_q.bias`, shape: [64], values: bias(64) },
        { name: `blk.${l}.attn_k.bias`, shape: [32], values: bias(32) },
        { name: `blk.${l}.attn_v.bias`, shape: [32], values: bias(32) },
      ]),
    },
  ],
  [
    "llama with rope_freqs.weight (llama 3 scaling) and base 500000",
    {
      keys: { "llama.rope.freq_base": gguf.f32(500000) },
      extraTensors: [{ name: "rope_freqs.weight", shape: [4], values: Float32Array.from([1, 1.7, 4.2, 8]) }],
    },
  ],
  ["llama with linear rope scaling, factor 4", { keys: { "llama.rope.scaling.type": gguf.str("linear"), "llama.rope.scaling.factor": gguf.f32(4) } }],
];

test("qwen2, llama 3 rope factors and linear scaling agree with llama.cpp", { skip: !hasSharedData && "shared reference data not found" }, async (t) => {
  const llama = await loadLlamaCpp();
  if (!llama) {
    t.skip("node-llama-cpp is not available");
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-engine-"));
  try {
    const tokens = logitsTokens().slice(0, 100);
    for (const [label, variant] of variants) {
      const file = path.join(dir, "variant.gguf");
      await writeVariant(file, variant);
      const model = await openGgufModel(nodeFileSystem, file);
      const ours = (await (await LlamaEngine.create(model)).forward(tokens)).logits;
      await model.close();
      const theirs = await llamaCppProbabilities(llama, file, tokens, 512);
      let max = 0;
      let compared = 0;
      for (let r = 0; r < tokens.length; r++) {
        const n = normalizeRow(ours, r * 512, 512);
        for (let i = 0; i < 512; i++) {
          const p = theirs[r * 512 + i]!;
          if (p <= 1e-6) continue;
          max = Math.max(max, Math.abs(Math.log(p) - (ours[r * 512 + i]! - n.max - n.logSum)));
          compared++;
        }
      }
      assert.ok(compared > tokens.length * 20, `${label}: only ${compared} probabilities compared`);
      assert.ok(max < 1e-3, `${label}: max abs log-probability diff ${max}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
