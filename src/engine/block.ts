/**
 * One transformer block of a Llama-family model over a batch of sequences: RMSNorm → grouped-query causal
 * attention with RoPE (q/k/v biases for qwen2) → residual, RMSNorm → SwiGLU MLP → residual.
 *
 * The engine runs every block in turn; calibration-based quantization (src/methods) runs one block at a time
 * on the calibration batch, with weights it has changed (quantized, AWQ-scaled), so the block is its own unit.
 */
import type { LlamaHParams, ModelSource } from "../core/index.js";
import { defaultKernels } from "../kernels/index.js";
import type { Kernels } from "../kernels/index.js";
import { causalAttention } from "./attention.js";
import type { ForwardHooks } from "./hooks.js";
import type { KvCache } from "./kv-cache.js";
import { applyRope } from "./rope.js";
import type { RopeAngles, RopeConfig } from "./rope.js";
import { loadVector } from "./weights.js";
import type { LinearWeight } from "./weights.js";

/** The weights of one block; linear names are their GGUF names (`blk.3.attn_q.weight`). */
export interface LlamaBlockWeights {
  attnNorm: Float32Array;
  q: LinearWeight;
  k: LinearWeight;
  v: LinearWeight;
  o: LinearWeight;
  qBias?: Float32Array;
  kBias?: Float32Array;
  vBias?: Float32Array;
  ffnNorm: Float32Array;
  gate: LinearWeight;
  up: LinearWeight;
  down: LinearWeight;
}

/** Loads a linear weight [rows × cols] by GGUF name. */
export type LinearLoader = (name: string, rows: number, cols: number) => Promise<LinearWeight>;

/**
 * Block `layer`'s weights from a model in GGUF terms (see ggufView); linears through `linear`, norms and biases
 * into the memory of `kernels` when given.
 */
export async function loadLlamaBlockWeights(source: ModelSource, hp: LlamaHParams, layer: number, linear: LinearLoader, kernels?: Kernels): Promise<LlamaBlockWeights> {
  const { hiddenSize: hidden, intermediateSize: ffn } = hp;
  const qDim = hp.numHeads * hp.headDim;
  const kvDim = hp.numKvHeads * hp.headDim;
  const p = `blk.${layer}.`;
  const bias = async (name: string, n: number) => (source.tensors.some((t) => t.name === p + name) ? loadVector(source, p + name, n, kernels) : undefined);
  return {
    attnNorm: await loadVector(source, p + "attn_norm.weight", hidden, kernels),
    q: await linear(p + "attn_q.weight", qDim, hidden),
    k: await linear(p + "attn_k.weight", kvDim, hidden),
    v: await linear(p + "attn_v.weight", kvDim, hidden),
    o: await linear(p + "attn_output.weight", hidden, qDim),
    qBias: await bias("attn_q.bias", qDim),
    kBias: await bias("attn_k.bias", kvDim),
    vBias: await bias("attn_v.bias", kvDim),
    ffnNorm: await loadVector(source, p + "ffn_norm.weight", hidden, kernels),
    gate: await linear(p + "ffn_gate.weight", ffn, hidden),
    up: await linear(p + "ffn_up.weight", ffn, hidden),
    down: await linear(p + "ffn_down.weight", hidden, ffn),
  };
}

/** How the tokens of a call are laid out: sequences stacked row-wise, each with its KV cache. */
export interface BlockBatch {
  /** Tokens of all sequences. */
  readonly rows: number;
  /** First row of each sequence. */
  readonly starts: readonly number[];
  readonly lengths: readonly number[];
  /** Tokens each sequence's cache held before this call (its first position). */
  readonly past: readonly number[];
  readonly caches: readonly KvCache[];
  /** RoPE angles of every row's position. */
  readonly angles: RopeAngles;
}

/**
 * Intermediate buffers of a block forward for `rows` tokens, reused across blocks, in the memory of the kernels
 * that multiply them (default: the process's single-threaded kernels).
 */
export class BlockScratch {
  readonly xn: Float32Array;
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly attn: Float32Array;
  readonly proj: Float32Array;
  readonly gate: Float32Array;
  readonly up: Float32Array;
  readonly rounded: Float32Array;

  constructor(
    hp: LlamaHParams,
    readonly rows: number,
    readonly kernels: Kernels = defaultKernels(),
  ) {
    const { hiddenSize: hidden, intermediateSize: ffn } = hp;
    const qDim = hp.numHeads * hp.headDim;
    const kvDim = hp.numKvHeads * hp.headDim;
    const buffer = (n: number) => kernels.allocate(n);
    this.xn = buffer(rows * hidden);
    this.q = buffer(rows * qDim);
    this.k = buffer(rows * kvDim);
    this.v = buffer(rows * kvDim);
    this.attn = buffer(rows * qDim);
    this.proj = buffer(rows * hidden);
    this.gate = buffer(rows * ffn);
    this.up = buffer(rows * ffn);
    this.rounded = buffer(rows * Math.max(hidden, qDim, ffn));
  }

  /** Gives the buffers back to the kernels (the scratch cannot be used afterwards). */
  release(): void {
    for (const b of [this.xn, this.q, this.k, this.v, this.attn, this.proj, this.gate, this.up, this.rounded]) this.kernels.release(b);
  }
}

/** y [n × w.rows] = x [n × w.cols] · Wᵀ, after the input hook and the weight's activation rounding. */
export async function applyLinear(w: LinearWeight, x: Float32Array, y: Float32Array, n: number, scratch: BlockScratch, hooks: ForwardHooks): Promise<void> {
  await hooks.onLinearInput?.(w.name, x, n, w.cols);
  const input = w.activationFormat ? scratch.rounded : x;
  if (w.activationFormat) scratch.kernels.roundActivations(w.activationFormat, x, scratch.rounded, n * w.cols);
  scratch.kernels.matmul(input, n, w.matrix, y, w.accumulation);
}

/**
 * Runs block `layer` on the residual stream h [batch.rows × hidden] in place. `layer` selects the layer of
 * each sequence's KV cache (which receives this block's keys and values).
 */
export async function forwardLlamaBlock(
  hp: LlamaHParams,
  rope: RopeConfig,
  layer: number,
  w: LlamaBlockWeights,
  h: Float32Array,
  batch: BlockBatch,
  s: BlockScratch,
  hooks: ForwardHooks = {},
): Promise<void> {
  await forwardAttention(hp, rope, layer, w, h, batch, s, hooks);
  await forwardMlp(hp, w, h, batch.rows, s, hooks);
}

/** The block's first half: h += o(attention(RMSNorm(h))). */
export async function forwardAttention(
  hp: LlamaHParams,
  rope: RopeConfig,
  layer: number,
  w: LlamaBlockWeights,
  h: Float32Array,
  batch: BlockBatch,
  s: BlockScratch,
  hooks: ForwardHooks = {},
): Promise<void> {
  const { hiddenSize: hidden, numHeads, numKvHeads, headDim } = hp;
  const qDim = numHeads * headDim;
  const kvDim = numKvHeads * headDim;
  const rows = batch.rows;
  const linear = (lw: LinearWeight, x: Float32Array, y: Float32Array) => applyLinear(lw, x, y, rows, s, hooks);

  const kernels = s.kernels;
  kernels.rmsNorm(h, rows, hidden, w.attnNorm, hp.rmsNormEps, s.xn);
  await linear(w.q, s.xn, s.q);
  await linear(w.k, s.xn, s.k);
  await linear(w.v, s.xn, s.v);
  if (w.qBias) kernels.addRows(s.q, rows, qDim, w.qBias);
  if (w.kBias) kernels.addRows(s.k, rows, kvDim, w.kBias);
  if (w.vBias) kernels.addRows(s.v, rows, kvDim, w.vBias);
  applyRope(rope, batch.angles, s.q, rows, qDim, numHeads, headDim, kernels);
  applyRope(rope, batch.angles, s.k, rows, kvDim, numKvHeads, headDim, kernels);
  for (let i = 0; i < batch.caches.length; i++) {
    const cache = batch.caches[i]!;
    cache.store(layer, s.k, s.v, batch.starts[i]!, batch.lengths[i]!, kvDim);
    const roundToF16 = cache.type === "f16" ? (x: Float32Array, out: Float32Array, count: number) => kernels.roundActivations("F16", x, out, count) : undefined;
    causalAttention({ numHeads, headDim, roundToF16, kernels }, s.q, s.attn, batch.starts[i]!, batch.lengths[i]!, qDim, cache, layer, batch.past[i]!);
  }
  await linear(w.o, s.attn, s.proj);
  kernels.addRows(h, 1, rows * hidden, s.proj);
}

/** The block's second half: h += down(SwiGLU(gate(RMSNorm(h)), up(RMSNorm(h)))), for `rows` tokens. */
export async function forwardMlp(hp: LlamaHParams, w: LlamaBlockWeights, h: Float32Array, rows: number, s: BlockScratch, hooks: ForwardHooks = {}): Promise<void> {
  const { hiddenSize: hidden, intermediateSize: ffn } = hp;
  const linear = (lw: LinearWeight, x: Float32Array, y: Float32Array) => applyLinear(lw, x, y, rows, s, hooks);
  s.kernels.rmsNorm(h, rows, hidden, w.ffnNorm, hp.rmsNormEps, s.xn);
  await linear(w.gate, s.xn, s.gate);
  await linear(w.up, s.xn, s.up);
  s.kernels.swiglu(s.gate, s.up, rows * ffn);
  await linear(w.down, s.gate, s.proj);
  s.kernels.addRows(h, 1, rows * hidden, s.proj);
}
