/**
 * The calibration batch as it flows through the model block by block: the residual stream of every
 * calibration token (the only activations kept for the whole batch), cut into micro-batches of whole windows
 * that one block forward processes at a time, so a block's intermediate buffers never exceed a micro-batch.
 */
import { BitsmithError } from "../../core/index.js";
import type { LlamaHParams } from "../../core/index.js";
import { BlockScratch, KvCache, forwardAttention, forwardMlp, ropeAngles } from "../../engine/index.js";
import type { BlockBatch, ForwardHooks, LinearWeight, LlamaBlockWeights, RopeConfig } from "../../engine/index.js";
import { defaultKernels } from "../../kernels/index.js";
import type { Kernels } from "../../kernels/index.js";

/** The whole block, or its attention half (h + attention), or its MLP half (h + MLP). */
export type BlockPart = "block" | "attention" | "mlp";

export interface ForwardRequest {
  readonly mode: "trial" | "advance";
  readonly part?: BlockPart;
  /** The stream the part starts from (default the residual stream); [tokens × hidden]. */
  readonly input?: Float32Array;
  /** Hooks, or hooks made per micro-batch from its first token and token count. */
  readonly hooks?: ForwardHooks | ((first: number, rows: number) => ForwardHooks);
  readonly onOutput?: (out: Float32Array, first: number, rows: number) => void | Promise<void>;
}

interface MicroBatch {
  /** First token (row of the residual stream). */
  readonly first: number;
  readonly batch: BlockBatch;
}

export class CalibrationRun {
  /** [tokens × hidden]: the input of the next block to process (after `blocksDone` blocks). */
  readonly residual: Float32Array;
  readonly tokens: number;
  private readonly batches: MicroBatch[] = [];
  private readonly scratch: BlockScratch;
  private readonly work: Float32Array;
  private readonly windows: readonly Int32Array[];

  /**
   * `windows` of equal length; `batchTokens` bounds the tokens of one forward (at least one window).
   * `residual`, when given, resumes a run from a saved stream. The block's matrix products run on `kernels`.
   */
  constructor(
    readonly hp: LlamaHParams,
    readonly rope: RopeConfig,
    windows: readonly Int32Array[],
    batchTokens: number,
    residual?: Float32Array,
    readonly kernels: Kernels = defaultKernels(),
  ) {
    if (windows.length === 0) throw new BitsmithError("no calibration windows", { field: "calibration" });
    const seqLen = windows[0]!.length;
    if (windows.some((w) => w.length !== seqLen)) throw new BitsmithError("calibration windows must all have the same length", { field: "calibration" });
    this.tokens = windows.length * seqLen;
    const perBatch = Math.max(1, Math.floor(batchTokens / seqLen));
    const positions = Float64Array.from({ length: perBatch * seqLen }, (_, i) => i % seqLen);
    const angles = ropeAngles(rope, positions);
    for (let s0 = 0; s0 < windows.length; s0 += perBatch) {
      const n = Math.min(perBatch, windows.length - s0);
      const starts = Array.from({ length: n }, (_, i) => i * seqLen);
      // A one-layer cache per window: the block stores its keys and values at positions 0.. on every call.
      const caches = starts.map(() => new KvCache(1, hp.numKvHeads, hp.headDim, seqLen));
      this.batches.push({
        first: s0 * seqLen,
        batch: { rows: n * seqLen, starts, lengths: starts.map(() => seqLen), past: starts.map(() => 0), caches, angles },
      });
    }
    const maxRows = Math.min(perBatch, windows.length) * seqLen;
    this.scratch = new BlockScratch(hp, maxRows, kernels);
    this.work = new Float32Array(maxRows * hp.hiddenSize);
    if (residual) {
      if (residual.length !== this.tokens * hp.hiddenSize) throw new BitsmithError(`saved activations hold ${residual.length} values, ${this.tokens} × ${hp.hiddenSize} expected`, { field: "activations" });
      this.residual = residual;
    } else {
      this.residual = new Float32Array(this.tokens * hp.hiddenSize);
    }
    this.windows = windows;
  }

  /** Fills the residual stream with the token embeddings (the input of block 0). */
  embed(embedding: LinearWeight): void {
    const hidden = this.hp.hiddenSize;
    let row = 0;
    for (const w of this.windows) {
      for (const id of w) {
        if (id < 0 || id >= embedding.rows) throw new BitsmithError(`calibration token ${id} is outside the vocabulary (0..${embedding.rows - 1})`, { field: "calibration" });
        embedding.readRow(id, this.residual, row++ * hidden);
      }
    }
  }

  /**
   * Runs a block (or one half of it) over every micro-batch. "trial": on a copy of the input stream, which is
   * left as it was (`onOutput` sees each micro-batch's output rows [first, first + rows)); "advance": the whole
   * block in place on the residual stream, which becomes the block's output.
   */
  async forward(layer: LlamaBlockWeights, request: ForwardRequest): Promise<void> {
    const hidden = this.hp.hiddenSize;
    const part = request.part ?? "block";
    const input = request.input ?? this.residual;
    if (request.mode === "advance" && (part !== "block" || input !== this.residual)) throw new BitsmithError("only a whole block advances the calibration stream");
    const hooks = request.hooks ?? {};
    for (const { first, batch } of this.batches) {
      const range = input.subarray(first * hidden, (first + batch.rows) * hidden);
      let h = range;
      if (request.mode === "trial") {
        h = this.work.subarray(0, batch.rows * hidden);
        h.set(range);
      }
      const batchHooks = typeof hooks === "function" ? hooks(first, batch.rows) : hooks;
      if (part !== "mlp") await forwardAttention(this.hp, this.rope, 0, layer, h, batch, this.scratch, batchHooks);
      if (part !== "attention") await forwardMlp(this.hp, layer, h, batch.rows, this.scratch, batchHooks);
      await request.onOutput?.(h, first, batch.rows);
    }
  }
}
