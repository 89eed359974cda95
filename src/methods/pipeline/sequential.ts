/**
 * The sequential layer-wise pipeline (GPTQ's "true sequential", llm-compressor's sequential pipeline): the
 * calibration windows are embedded once; then, block by block, the block's weights are read, the method
 * quantizes them using the block's inputs (collected through the engine's hooks), and the *quantized* block
 * is run to produce the next block's inputs. Memory: the calibration stream (tokens × hidden), one block's
 * weights, one block's statistics (a Hessian per input, or AWQ's target output), one micro-batch of the
 * block's intermediate activations. Each finished block goes to a QuantizationStore, from which the outputs
 * are written, and from which an interrupted run resumes.
 */
import { BitsmithError, silentProgress } from "../../core/index.js";
import type { ModelSource, Progress } from "../../core/index.js";
import { loadLinearWeight, ropeConfig, ropeStyleOf, runnableHParams } from "../../engine/index.js";
import type { Kernels } from "../../kernels/index.js";
import { ggufView } from "../../model/gguf-view.js";
import { formatFits } from "../weight-format.js";
import type { WeightFormat } from "../weight-format.js";
import { quantizeBlockAwq, quantizeBlockGptq, quantizeBlockRtn } from "./block-methods.js";
import type { MethodOptions } from "./block-methods.js";
import { CalibrationRun } from "./calibration-run.js";
import { engineWeights, readFloatBlock } from "./float-block.js";
import type { LinearReport } from "./outcome.js";
import { MemoryQuantizationStore } from "./result-store.js";
import type { QuantizationStore } from "./result-store.js";

export interface SequentialQuantizeOptions extends MethodOptions {
  /** Token windows of equal length (see calibrate/calibration-data.ts); required except for RTN. */
  readonly calibration?: readonly Int32Array[];
  /** Tokens per block forward (default 4096; at least one window). */
  readonly batchTokens?: number;
  readonly progress?: Progress;
  /** Default: in memory. */
  readonly store?: QuantizationStore;
  /** Continue after the blocks the store already holds for the same model, options and calibration. */
  readonly resume?: boolean;
  /** Kernels for the block forwards and the Hessians (default: the single-threaded defaults). */
  readonly kernels?: Kernels;
}

export interface QuantizationRun {
  readonly store: QuantizationStore;
  /** The model in GGUF terms. */
  readonly source: ModelSource;
  readonly numLayers: number;
  /** The format the block linears were quantized to (per-layer fallbacks aside). */
  readonly format: WeightFormat;
  /** One line per quantized linear, in model order. */
  readonly reports: readonly LinearReport[];
  /** Bits per weight over all block linears (side lists, scales and fallbacks included). */
  readonly bitsPerWeight: number;
  /** Blocks quantized by this call (the others came from the store). */
  readonly blocksQuantized: number;
  readonly seconds: number;
}

function describeFormat(f: WeightFormat): unknown {
  return f.kind === "codec" ? { codec: f.codec.type.name } : { ...f.scheme };
}

/** FNV-1a over the calibration tokens: identifies the calibration data in the resume fingerprint. */
function tokensHash(windows: readonly Int32Array[] | undefined): string {
  let h = 0x811c9dc5;
  for (const w of windows ?? []) {
    for (const t of w) {
      h ^= t & 0xff;
      h = Math.imul(h, 0x01000193);
      h ^= t >>> 8;
      h = Math.imul(h, 0x01000193);
    }
  }
  return `${windows?.length ?? 0}x${windows?.[0]?.length ?? 0}:${(h >>> 0).toString(16)}`;
}

/** Checks before any work that the format fits every block linear (or falls back), naming the first that does not. */
function checkFormats(options: MethodOptions, hp: NonNullable<ModelSource["info"]["hparams"]>): void {
  if ((options.unfitLayers ?? "error") !== "error") return;
  const q = hp.numHeads * hp.headDim;
  const shapes: [string, number][] = [
    ["attn_{q,k,v}.weight", hp.hiddenSize],
    ["attn_output.weight", q],
    ["ffn_{gate,up}.weight", hp.hiddenSize],
    ["ffn_down.weight", hp.intermediateSize],
  ];
  for (const [name, cols] of shapes) {
    if (!formatFits(options.format, cols)) {
      const what = options.format.kind === "codec" ? `the ${options.format.codec.type.name} block size ${options.format.codec.type.blockSize}` : `group size ${options.format.scheme.groupSize}`;
      throw new BitsmithError(`rows have ${cols} values, not a multiple of ${what}; choose a size that divides every row or allow a per-layer fallback`, {
        field: `blk.*.${name}`,
      });
    }
  }
}

export async function quantizeBlocks(model: ModelSource, options: SequentialQuantizeOptions): Promise<QuantizationRun> {
  const started = performance.now();
  const source = ggufView(model);
  const hp = runnableHParams(source);
  const style = ropeStyleOf(source.info.architecture);
  if (options.method === "outlier" && options.format.kind !== "integer") throw new BitsmithError("the outlier method needs integer groups: its fp16 side list has no GGUF form", { field: "format" });
  checkFormats(options, hp);
  const needsCalibration = options.method !== "rtn";
  const windows = options.calibration;
  if (needsCalibration && (!windows || windows.length === 0)) throw new BitsmithError(`${options.method} needs calibration data`, { field: "calibration" });

  const store = options.store ?? new MemoryQuantizationStore();
  const fingerprint = JSON.stringify({
    model: source.name,
    tensors: source.tensors.length,
    hp,
    method: options.method,
    format: describeFormat(options.format),
    unfit: options.unfitLayers ?? "error",
    gptq: options.gptq ?? {},
    awq: options.awq ?? {},
    outliers: options.outliers ?? {},
    calibration: needsCalibration ? tokensHash(windows) : "none",
  });
  const resumed = options.resume ? await store.resumePoint(fingerprint) : undefined;
  if (!resumed) await store.begin(fingerprint);
  const firstBlock = resumed?.blocksDone ?? 0;

  let run: CalibrationRun | undefined;
  if (needsCalibration && firstBlock < hp.numLayers) {
    const rope = await ropeConfig(source, hp, style, source.tensors.some((t) => t.name === "rope_freqs.weight"));
    run = new CalibrationRun(hp, rope, windows!, options.batchTokens ?? 4096, resumed?.residual, options.kernels);
    if (!resumed?.residual) {
      if (firstBlock > 0) throw new BitsmithError("the saved run has no calibration activations to resume from", { field: "resume" });
      run.embed(await loadLinearWeight(source, "token_embd.weight", hp.vocabSize, hp.hiddenSize, { dequantize: false, ggmlActivations: false }));
    }
  }

  const progress = options.progress ?? silentProgress;
  progress.start(`${options.method} ${options.format.kind === "codec" ? options.format.codec.type.name : `int${options.format.scheme.bits}`}`, hp.numLayers, "blocks");
  if (firstBlock > 0) progress.advance(firstBlock, `resumed after block ${firstBlock - 1}`);
  for (let l = firstBlock; l < hp.numLayers; l++) {
    const block = await readFloatBlock(source, hp, l);
    const outcome =
      options.method === "rtn"
        ? quantizeBlockRtn(block, options)
        : options.method === "awq"
          ? await quantizeBlockAwq(block, run!, options)
          : await quantizeBlockGptq(block, run!, options);
    if (run) await run.forward(engineWeights(block), { mode: "advance" });
    await store.saveBlock(outcome, run?.residual);
    progress.advance(1, `blk.${l}`);
  }
  progress.finish();

  const reports: LinearReport[] = [];
  for (let l = 0; l < hp.numLayers; l++) reports.push(...(await store.readReports(l)));
  const weights = reports.reduce((n, r) => n + r.rows * r.cols, 0);
  const bits = reports.reduce((n, r) => n + r.bitsPerWeight * r.rows * r.cols, 0);
  return {
    store,
    source,
    numLayers: hp.numLayers,
    format: options.format,
    reports,
    bitsPerWeight: bits / weights,
    blocksQuantized: hp.numLayers - firstBlock,
    seconds: (performance.now() - started) / 1000,
  };
}
