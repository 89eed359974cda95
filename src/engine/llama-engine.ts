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
import { matmulWeightRows, weightBlockRows } from "../kernels/matmul.js";
import { addBiasRows, addInPlace, rmsNormRows, swigluInPlace } from "../kernels/vector-ops.js";
import { causalAttention } from "./attention.js";
import type { ForwardHooks } from "./hooks.js";
import { KvCache } from "./kv-cache.js";
import type { KvCacheType } from "./kv-cache.js";
import { roundF16 } from "./ggml-activations.js";
import { applyRope, ropeAngles, ropeStyleOf } from "./rope.js";
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

interface LayerWeights {
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

export class LlamaEngine {
  private readonly scratch: Float32Array;

  private constructor(
    readonly source: ModelSource,
    readonly hparams: LlamaHParams,
    readonly rope: RopeConfig,
    readonly kvCacheType: KvCacheType,
    private readonly embedding: LinearWeight,
    private readonly layers: LayerWeights[],
    private readonly outputNorm: Float32Array,
    private readonly output: LinearWeight,
  ) {
    const inDims = [hparams.hiddenSize, hparams.numHeads * hparams.headDim, hparams.intermediateSize];
    this.scratch = new Float32Array(Math.max(...inDims.map((d) => weightBlockRows(d) * d)));
  }

  /** Loads the weights of a Llama-family model (reading each tensor's bytes once). */
  static async create(model: ModelSource, options: EngineOptions = {}): Promise<LlamaEngine> {
    const source = ggufView(model);
    const hp = source.info.hparams;
    const where = { file: source.name };
    if (!hp) throw new BitsmithError("the model has no Llama-family hyperparameters (block_count, embedding_length, ...)", where);
    const style = ropeStyleOf(source.info.architecture);
    const { hiddenSize: hidden, numHeads, numKvHeads, headDim, intermediateSize: ffn, numLayers, vocabSize } = hp;
    for (const [field, v] of Object.entries({ hiddenSize: hidden, numHeads, numKvHeads, headDim, intermediateSize: ffn, numLayers, vocabSize })) {
      if (!Number.isSafeInteger(v) || v <= 0) throw new BitsmithError(`${field} is ${v}`, { ...where, field });
    }
    if (numHeads % numKvHeads !== 0) throw new BitsmithError(`${numHeads} heads are not a multiple of ${numKvHeads} KV heads`, { ...where, field: "numKvHeads" });
    if (headDim % 2 !== 0) throw new BitsmithError(`head size ${headDim} is odd; RoPE rotates pairs`, { ...where, field: "headDim" });

    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    const outputName = source.tensors.some((t) => t.name === "output.weight") ? "output.weight" : "token_embd.weight";
    const matrixWeights = numLayers * (2 * hidden * qDim + 2 * hidden * kvDim + 3 * hidden * ffn) + (outputName === "output.weight" ? 2 : 1) * vocabSize * hidden;
    const dequantize = shouldCacheDequantized(options.cacheDequantized ?? "auto", matrixWeights);
    const ggmlActivations = (options.activations ?? "ggml") === "ggml";
    const linear = (name: string, rows: number, cols: number) => loadLinearWeight(source, name, rows, cols, { dequantize, ggmlActivations });
    const hasTensor = (name: string) => source.tensors.some((t) => t.name === name);

    const embedding = await linear("token_embd.weight", vocabSize, hidden);
    const output = outputName === "token_embd.weight" ? embedding : await linear(outputName, vocabSize, hidden);
    const layers: LayerWeights[] = [];
    for (let l = 0; l < numLayers; l++) {
      const p = `blk.${l}.`;
      const bias = async (name: string, n: number) => (hasTensor(p + name) ? loadVector(source, p + name, n) : undefined);
      layers.push({
        attnNorm: await loadVector(source, p + "attn_norm.weight", hidden),
        q: await linear(p + "attn_q.weight", qDim, hidden),
        k: await linear(p + "attn_k.weight", kvDim, hidden),
        v: await linear(p + "attn_v.weight", kvDim, hidden),
        o: await linear(p + "attn_output.weight", hidden, qDim),
        qBias: await bias("attn_q.bias", qDim),
        kBias: await bias("attn_k.bias", kvDim),
        vBias: await bias("attn_v.bias", kvDim),
        ffnNorm: await loadVector(source, p + "ffn_norm.weight", hidden),
        gate: await linear(p + "ffn_gate.weight", ffn, hidden),
        up: await linear(p + "ffn_up.weight", ffn, hidden),
        down: await linear(p + "ffn_down.weight", hidden, ffn),
      });
    }
    const outputNorm = await loadVector(source, "output_norm.weight", hidden);
    const rope = await ropeConfig(source, hp, style, hasTensor("rope_freqs.weight"));
    return new LlamaEngine(source, hp, rope, options.kvCacheType ?? "f32", embedding, layers, outputNorm, output);
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
    return new KvCache(hp.numLayers, hp.numKvHeads, hp.headDim, capacity, maxLength, this.kvCacheType);
  }

  /** Runs one sequence. */
  forward(tokens: ArrayLike<number>, options: ForwardOptions = {}): Promise<ForwardResult> {
    return this.forwardBatch([tokens], options);
  }

  /** Runs several independent sequences in one pass (stacked for the linear layers, attention per sequence). */
  async forwardBatch(sequences: readonly ArrayLike<number>[], options: ForwardOptions = {}): Promise<ForwardResult> {
    const hp = this.hparams;
    const { hiddenSize: hidden, numHeads, numKvHeads, headDim, intermediateSize: ffn } = hp;
    const qDim = numHeads * headDim;
    const kvDim = numKvHeads * headDim;
    if (options.caches && options.caches.length !== sequences.length) {
      throw new BitsmithError(`${options.caches.length} caches given for ${sequences.length} sequences`);
    }
    const caches = options.caches ?? sequences.map((s) => new KvCache(hp.numLayers, numKvHeads, headDim, s.length, Infinity, this.kvCacheType));
    const starts: number[] = [];
    let rows = 0;
    for (const s of sequences) {
      starts.push(rows);
      rows += s.length;
    }
    const past = caches.map((c) => c.length);
    caches.forEach((c, i) => c.reserve(past[i]! + sequences[i]!.length));

    const positions = new Float64Array(rows);
    const h = new Float32Array(rows * hidden);
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
    const angles = ropeAngles(this.rope, positions);

    const xn = new Float32Array(rows * hidden);
    const q = new Float32Array(rows * qDim);
    const k = new Float32Array(rows * kvDim);
    const v = new Float32Array(rows * kvDim);
    const attn = new Float32Array(rows * qDim);
    const proj = new Float32Array(rows * hidden);
    const gate = new Float32Array(rows * ffn);
    const up = new Float32Array(rows * ffn);
    const rounded = new Float32Array(rows * Math.max(hidden, qDim, ffn));
    const linear = async (w: LinearWeight, x: Float32Array, y: Float32Array, n = rows) => {
      await options.onLinearInput?.(w.name, x, n, w.cols);
      const input = w.activationRounding ? rounded : x;
      w.activationRounding?.(x, rounded, n * w.cols);
      matmulWeightRows(input, n, w.cols, w.rows, w.readRows, y, this.scratch);
    };

    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l]!;
      rmsNormRows(h, rows, hidden, L.attnNorm, hp.rmsNormEps, xn);
      await linear(L.q, xn, q);
      await linear(L.k, xn, k);
      await linear(L.v, xn, v);
      if (L.qBias) addBiasRows(q, rows, qDim, L.qBias);
      if (L.kBias) addBiasRows(k, rows, kvDim, L.kBias);
      if (L.vBias) addBiasRows(v, rows, kvDim, L.vBias);
      applyRope(this.rope, angles, q, rows, qDim, numHeads, headDim);
      applyRope(this.rope, angles, k, rows, kvDim, numKvHeads, headDim);
      sequences.forEach((seq, s) => {
        caches[s]!.store(l, k, v, starts[s]!, seq.length, kvDim);
        const roundToF16 = caches[s]!.type === "f16" ? roundF16 : undefined;
        causalAttention({ numHeads, headDim, roundToF16 }, q, attn, starts[s]!, seq.length, qDim, caches[s]!, l, past[s]!);
      });
      await linear(L.o, attn, proj);
      addInPlace(h, proj, rows * hidden);

      rmsNormRows(h, rows, hidden, L.ffnNorm, hp.rmsNormEps, xn);
      await linear(L.gate, xn, gate);
      await linear(L.up, xn, up);
      swigluInPlace(gate, up, rows * ffn);
      await linear(L.down, gate, proj);
      addInPlace(h, proj, rows * hidden);
      await options.onBlockOutput?.(l, h, rows, hidden);
    }
    caches.forEach((c, i) => (c.length = past[i]! + sequences[i]!.length));

    // Gather the rows whose logits were asked for, then the final norm and the output head on those only.
    const selected = sequences.map((seq) => selectPositions(options.logits ?? "all", seq.length));
    const outRows = selected.reduce((n, sel) => n + sel.count, 0);
    const picked = new Float32Array(outRows * hidden);
    const result: SequenceLogits[] = [];
    let row = 0;
    selected.forEach((sel, s) => {
      const from = (starts[s]! + sel.firstPosition) * hidden;
      picked.set(h.subarray(from, from + sel.count * hidden), row * hidden);
      result.push({ row, count: sel.count, firstPosition: sel.firstPosition });
      row += sel.count;
    });
    const logits = new Float32Array(outRows * this.output.rows);
    if (outRows > 0) {
      rmsNormRows(picked, outRows, hidden, this.outputNorm, hp.rmsNormEps, picked);
      await linear(this.output, picked, logits, outRows);
    }
    return { logits, vocabSize: this.output.rows, sequences: result };
  }
}

function selectPositions(sel: LogitsSelection, length: number): { firstPosition: number; count: number } {
  if (sel === "all") return { firstPosition: 0, count: length };
  if (sel === "none") return { firstPosition: length, count: 0 };
  if (sel === "last") return { firstPosition: Math.max(0, length - 1), count: Math.min(1, length) };
  const from = Math.min(Math.max(0, sel.from), length);
  return { firstPosition: from, count: length - from };
}

/** RoPE settings from the architecture, hyperparameters and an optional `rope_freqs.weight` (llama 3). */
async function ropeConfig(source: ModelSource, hp: LlamaHParams, style: RopeConfig["style"], hasFreqs: boolean): Promise<RopeConfig> {
  const config: RopeConfig = { style, dims: hp.headDim, base: hp.ropeTheta, freqScale: 1 };
  const scaling = hp.ropeScaling;
  if (hasFreqs) config.factors = await loadVector(source, "rope_freqs.weight", hp.headDim / 2);
  if (!scaling) return config;
  if (scaling.type === "linear") config.freqScale = 1 / scaling.factor;
  else if (scaling.type === "llama3") config.factors ??= llama3RopeFactors(hp);
  else throw new BitsmithError(`rope scaling type "${scaling.type}" is not supported by the engine (linear, llama3)`, { file: source.name, field: "rope_scaling" });
  return config;
}
