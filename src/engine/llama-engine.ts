/**
 * A Llama-family forward pass (llama, mistral, qwen2) over a ModelSource with GGUF tensor names: token
 * embedding, per block RMSNorm → grouped-query causal attention with RoPE (q/k/v biases for qwen2) →
 * residual, RMSNorm → SwiGLU MLP → residual; final RMSNorm and the output head (or the tied embedding).
 *
 * A call processes whole sequences as matrices: the tokens of every sequence are stacked into one
 * [tokens × hidden] activation matrix, so each linear layer is one matrix × matrix product; only attention is
 * per sequence. Activations are float32; dot products accumulate in float64. Weight matrices are decoded from
 * their stored type a block of rows at a time inside the matmul (see weights.ts for the memory policy).
 *
 * The arithmetic follows llama.cpp's CPU back end with an f32 KV cache and flash attention off; logits of
 * stories260K agree with that configuration to about 1e-5.
 */
import { BitsmithError } from "../core/index.js";
import type { LlamaHParams, ModelSource } from "../core/index.js";
import { ggufView } from "../model/gguf-view.js";
import { defaultKernels } from "../kernels/index.js";
import type { Kernels } from "../kernels/index.js";
import { BlockScratch, applyLinear, forwardLlamaBlock, loadLlamaBlockWeights } from "./block.js";
import type { BlockBatch, LlamaBlockWeights } from "./block.js";
import type { ForwardHooks } from "./hooks.js";
import { KvCache } from "./kv-cache.js";
import type { KvCacheType } from "./kv-cache.js";
import { ropeAngles, ropeStyleOf } from "./rope.js";
import { llama3RopeFactors } from "../model/rope-freqs.js";
import type { RopeConfig } from "./rope.js";
import { loadLinearWeight, loadVector, shouldCacheDequantized } from "./weights.js";
import type { DequantizedCachePolicy, LinearWeight } from "./weights.js";

export interface EngineOptions {
  /**
   * Keep weight matrices dequantized as float32 (4 bytes per weight) instead of decoding them in every
   * matmul. "auto" (default): only when all matrices together take at most 512 MiB as float32.
   */
  cacheDequantized?: DequantizedCachePolicy;
  /**
   * "ggml" (default): round the input of each matmul as llama.cpp's CPU back end does for the weight's type
   * (Q8_0 blocks for Q4_0/Q8_0 weights, fp16 for F16, ...; see ggml-activations.ts), so results match
   * llama.cpp. "float32": multiply float32 activations by the dequantized weights as they are.
   */
  activations?: "ggml" | "float32";
  /**
   * Element type of the KV cache. "f32" (default) is exact; "f16" reproduces llama.cpp's default cache with
   * flash attention off (K, V, queries and attention probabilities rounded to fp16 for the two products).
   */
  kvCacheType?: KvCacheType;
  /**
   * The matrix kernels (default: the process's single-threaded WebAssembly kernels; bitsmith/node's
   * createNodeKernels gives multi-threaded ones). Weights are loaded into their memory.
   */
  kernels?: Kernels;
}

/** Which positions of each sequence get logits. */
export type LogitsSelection = "all" | "last" | "none" | { from: number };

export interface ForwardOptions extends ForwardHooks {
  /** Default "all". `{ from: i }`: positions i.. of the tokens passed in this call. */
  logits?: LogitsSelection;
  /**
   * One cache per sequence: the tokens continue after those it holds, and their K/V are appended to it
   * (generation). Without caches every sequence starts at position 0 and nothing is kept.
   */
  caches?: readonly KvCache[];
}

export interface SequenceLogits {
  /** First row of this sequence in `logits`. */
  row: number;
  /** Rows (positions) with logits. */
  count: number;
  /** Position (within the tokens passed) of the first row. */
  firstPosition: number;
}

export interface ForwardResult {
  /** [rows × vocabSize], the selected positions of all sequences in order. */
  logits: Float32Array;
  vocabSize: number;
  sequences: SequenceLogits[];
}

export class LlamaEngine {
  private constructor(
    readonly source: ModelSource,
    readonly hparams: LlamaHParams,
    readonly rope: RopeConfig,
    readonly kvCacheType: KvCacheType,
    private readonly embedding: LinearWeight,
    private readonly layers: LlamaBlockWeights[],
    private readonly outputNorm: Float32Array,
    private readonly output: LinearWeight,
    readonly kernels: Kernels,
  ) {}

  /** Loads the weights of a Llama-family model (reading each tensor's bytes once). */
  static async create(model: ModelSource, options: EngineOptions = {}): Promise<LlamaEngine> {
    const source = ggufView(model);
    const hp = runnableHParams(source);
    const style = ropeStyleOf(source.info.architecture);
    const { hiddenSize: hidden, numHeads, numKvHeads, headDim, intermediateSize: ffn, numLayers, vocabSize } = hp;
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    const outputName = source.tensors.some((t) => t.name === "output.weight") ? "output.weight" : "token_embd.weight";
    const matrixWeights = numLayers * (2 * hidden * qDim + 2 * hidden * kvDim + 3 * hidden * ffn) + (outputName === "output.weight" ? 2 : 1) * vocabSize * hidden;
    const dequantize = shouldCacheDequantized(options.cacheDequantized ?? "auto", matrixWeights);
    const ggmlActivations = (options.activations ?? "ggml") === "ggml";
    const kernels = options.kernels ?? defaultKernels();
    const linear = (name: string, rows: number, cols: number) => loadLinearWeight(source, name, rows, cols, { dequantize, ggmlActivations, kernels });
    const hasTensor = (name: string) => source.tensors.some((t) => t.name === name);

    const embedding = await linear("token_embd.weight", vocabSize, hidden);
    const output = outputName === "token_embd.weight" ? embedding : await linear(outputName, vocabSize, hidden);
    const layers: LlamaBlockWeights[] = [];
    for (let l = 0; l < numLayers; l++) layers.push(await loadLlamaBlockWeights(source, hp, l, linear, kernels));
    const outputNorm = await loadVector(source, "output_norm.weight", hidden, kernels);
    const rope = await ropeConfig(source, hp, style, hasTensor("rope_freqs.weight"));
    return new LlamaEngine(source, hp, rope, options.kvCacheType ?? "f32", embedding, layers, outputNorm, output, kernels);
  }

  get vocabSize(): number {
    return this.hparams.vocabSize;
  }

  /** The context length the model was trained for (GGUF `<arch>.context_length`). */
  get contextLength(): number {
    return this.hparams.contextLength;
  }

  /** A cache for generation; it grows as needed up to `maxLength` (default: the model's context length). */
  newCache(capacity = 64, maxLength = this.hparams.contextLength): KvCache {
    const hp = this.hparams;
    return new KvCache(hp.numLayers, hp.numKvHeads, hp.headDim, capacity, maxLength, this.kvCacheType, (n) => this.kernels.allocate(n));
  }

  /** Runs one sequence. */
  forward(tokens: ArrayLike<number>, options: ForwardOptions = {}): Promise<ForwardResult> {
    return this.forwardBatch([tokens], options);
  }

  /** Runs several independent sequences in one pass (stacked for the linear layers, attention per sequence). */
  async forwardBatch(sequences: readonly ArrayLike<number>[], options: ForwardOptions = {}): Promise<ForwardResult> {
    const hp = this.hparams;
    const { hiddenSize: hidden, numKvHeads, headDim } = hp;
    if (options.caches && options.caches.length !== sequences.length) {
      throw new BitsmithError(`${options.caches.length} caches given for ${sequences.length} sequences`);
    }
    const caches = options.caches ?? sequences.map((s) => new KvCache(hp.numLayers, numKvHeads, headDim, s.length, Infinity, this.kvCacheType, (n) => this.kernels.allocate(n)));
    const starts: number[] = [];
    let rows = 0;
    for (const s of sequences) {
      starts.push(rows);
      rows += s.length;
    }
    const past = caches.map((c) => c.length);
    caches.forEach((c, i) => c.reserve(past[i]! + sequences[i]!.length));

    const positions = new Float64Array(rows);
    const h = this.kernels.allocate(rows * hidden);
    sequences.forEach((seq, s) => {
      for (let i = 0; i < seq.length; i++) {
        const id = seq[i]!;
        if (!Number.isInteger(id) || id < 0 || id >= hp.vocabSize) {
          throw new BitsmithError(`token id ${id} at position ${i} is outside the vocabulary (0..${hp.vocabSize - 1})`, { file: this.source.name });
        }
        this.embedding.readRow(id, h, (starts[s]! + i) * hidden);
        positions[starts[s]! + i] = past[s]! + i;
      }
    });
    const angles = ropeAngles(this.rope, positions, (n) => this.kernels.allocate(n));

    const scratch = new BlockScratch(hp, rows, this.kernels);
    try {
      return await this.runBlocks(sequences, h, { rows, starts, lengths: sequences.map((s) => s.length), past, caches, angles }, scratch, options);
    } finally {
      scratch.release();
      for (const buffer of [h, angles.cos, angles.sin]) this.kernels.release(buffer);
    }
  }

  /** The blocks, the final norm and the output head (for the selected positions) over the embedded batch h. */
  private async runBlocks(sequences: readonly ArrayLike<number>[], h: Float32Array, batch: BlockBatch, scratch: BlockScratch, options: ForwardOptions): Promise<ForwardResult> {
    const hp = this.hparams;
    const hidden = hp.hiddenSize;
    const { rows, starts, past, caches } = batch;
    for (let l = 0; l < this.layers.length; l++) {
      await forwardLlamaBlock(hp, this.rope, l, this.layers[l]!, h, batch, scratch, options);
      await options.onBlockOutput?.(l, h, rows, hidden);
    }
    caches.forEach((c, i) => (c.length = past[i]! + sequences[i]!.length));

    // Gather the rows whose logits were asked for, then the final norm and the output head on those only.
    const selected = sequences.map((seq) => selectPositions(options.logits ?? "all", seq.length));
    const outRows = selected.reduce((n, sel) => n + sel.count, 0);
    const picked = this.kernels.allocate(outRows * hidden);
    const result: SequenceLogits[] = [];
    let row = 0;
    selected.forEach((sel, s) => {
      const from = (starts[s]! + sel.firstPosition) * hidden;
      picked.set(h.subarray(from, from + sel.count * hidden), row * hidden);
      result.push({ row, count: sel.count, firstPosition: sel.firstPosition });
      row += sel.count;
    });
    const logits = new Float32Array(outRows * this.output.rows);
    try {
      if (outRows > 0) {
        this.kernels.rmsNorm(picked, outRows, hidden, this.outputNorm, hp.rmsNormEps, picked);
        await applyLinear(this.output, picked, logits, outRows, scratch, options);
      }
    } finally {
      this.kernels.release(picked);
    }
    return { logits, vocabSize: this.output.rows, sequences: result };
  }
}

/**
 * The hyperparameters of a model the engine can run (a Llama-family model in GGUF terms), checked: every size
 * positive, heads a multiple of KV heads, an even head size. The architecture is checked by ropeStyleOf.
 */
export function runnableHParams(source: ModelSource): LlamaHParams {
  const hp = source.info.hparams;
  const where = { file: source.name };
  if (!hp) throw new BitsmithError("the model has no Llama-family hyperparameters (block_count, embedding_length, ...)", where);
  const { hiddenSize, numHeads, numKvHeads, headDim, intermediateSize, numLayers, vocabSize } = hp;
  for (const [field, v] of Object.entries({ hiddenSize, numHeads, numKvHeads, headDim, intermediateSize, numLayers, vocabSize })) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new BitsmithError(`${field} is ${v}`, { ...where, field });
  }
  if (numHeads % numKvHeads !== 0) throw new BitsmithError(`${numHeads} heads are not a multiple of ${numKvHeads} KV heads`, { ...where, field: "numKvHeads" });
  if (headDim % 2 !== 0) throw new BitsmithError(`head size ${headDim} is odd; RoPE rotates pairs`, { ...where, field: "headDim" });
  return hp;
}

function selectPositions(sel: LogitsSelection, length: number): { firstPosition: number; count: number } {
  if (sel === "all") return { firstPosition: 0, count: length };
  if (sel === "none") return { firstPosition: length, count: 0 };
  if (sel === "last") return { firstPosition: Math.max(0, length - 1), count: Math.min(1, length) };
  const from = Math.min(Math.max(0, sel.from), length);
  return { firstPosition: from, count: length - from };
}

/** RoPE settings from the architecture, hyperparameters and an optional `rope_freqs.weight` (llama 3). */
export async function ropeConfig(source: ModelSource, hp: LlamaHParams, style: RopeConfig["style"], hasFreqs: boolean): Promise<RopeConfig> {
  const config: RopeConfig = { style, dims: hp.headDim, base: hp.ropeTheta, freqScale: 1 };
  const scaling = hp.ropeScaling;
  if (hasFreqs) config.factors = await loadVector(source, "rope_freqs.weight", hp.headDim / 2);
  if (!scaling) return config;
  if (scaling.type === "linear") config.freqScale = 1 / scaling.factor;
  else if (scaling.type === "llama3") config.factors ??= llama3RopeFactors(hp);
  else throw new BitsmithError(`rope scaling type "${scaling.type}" is not supported by the engine (linear, llama3)`, { file: source.name, field: "rope_scaling" });
  return config;
}
