/**
 * Quantizing one transformer block with each method, given the calibration run positioned at the block's
 * input. Every method leaves the block's linears holding their quantized (dequantized-back) values, so the
 * pipeline's next forward feeds the *quantized* block's output to the next block.
 *
 *  - RTN: each linear rounded on its own; no calibration forward.
 *  - GPTQ (and outlier, which is GPTQ with a side list): GPTQModel's "true sequential" order. The block's
 *    linears are quantized in four steps, q/k/v → o → gate/up → down; before each step a forward (with the
 *    earlier steps' layers already quantized) accumulates the Hessian of that step's input, shared by the
 *    layers that read it. The attention steps run only the block's attention half; the MLP steps start from
 *    the stream after the (quantized) attention half. Without true-sequential one forward collects all four.
 *  - AWQ: one forward of the float block records the stream after its attention half and after the whole
 *    block (the search targets), every input's mean |x| and mean x², the Gram matrices of o's and down's
 *    inputs, and a token sample of every input; then the scaling groups in order (q/k/v after the attention
 *    norm, o after v when the shapes match, gate/up after the MLP norm, down after up), each searching its α
 *    on the error of the part it feeds (a forward of the attention or MLP half per grid point; for o and down,
 *    the layer's own output error from the Gram matrix); then the clip search of every layer but q and k on
 *    the token sample (divided by the chosen scales: what the scaled layers see); then rounding to nearest.
 */
import { BitsmithError } from "../../core/index.js";
import type { ForwardHooks } from "../../engine/index.js";
import { ChannelStats, HessianAccumulator } from "../../calibrate/activation-stats.js";
import { AWQ_CLIP_TOKENS, clipWeights, layerOutputError, searchAwqScales } from "../awq.js";
import { gptqQuantize } from "../gptq.js";
import { fp16Value, outlierSaliency, selectOutliers } from "../outliers.js";
import type { OutlierOptions } from "../outliers.js";
import { rtnQuantize } from "../rtn.js";
import { formatFits } from "../weight-format.js";
import type { QuantizedWeights, WeightFormat } from "../weight-format.js";
import type { CalibrationRun } from "./calibration-run.js";
import { INPUT_OF, LINEAR_ROLES, engineWeights } from "./float-block.js";
import type { FloatBlock, FloatLinear, InputKey, LinearRole } from "./float-block.js";
import { describeWeights, weightsBitsPerWeight } from "./outcome.js";
import type { BlockOutcome, LinearOutcome, LinearReport } from "./outcome.js";

export type CalibratedMethod = "rtn" | "gptq" | "awq" | "outlier";
export const CALIBRATED_METHODS: readonly CalibratedMethod[] = ["rtn", "gptq", "awq", "outlier"];

export interface GptqMethodOptions {
  /** Default 0.01. */
  readonly dampPercent?: number;
  readonly dampAutoIncrement?: number;
  /** Lazy batch columns (default 128). */
  readonly blockSize?: number;
  readonly actOrder?: boolean;
  readonly staticGroups?: boolean;
  /** Quantize q/k/v, o, gate/up, down in turn, each seeing the earlier ones quantized (default true). */
  readonly trueSequential?: boolean;
}

export interface AwqMethodOptions {
  /** α grid points (default 20). */
  readonly grid?: number;
  /** s_x^α / s_w^(1−α) (default true) or s_x^α. */
  readonly duoScaling?: boolean;
  /** Weight clipping search (default true). */
  readonly clip?: boolean;
  /** Tokens sampled for the clip search (default 512). */
  readonly clipTokens?: number;
  /**
   * What the α search minimises: "module" (default, llm-compressor's and AutoAWQ's): the output of the part
   * the scaled layers feed — the attention for q/k/v and o, the MLP for gate/up and down; "block": the whole
   * transformer block's output for the attention mappings (the MLP mappings are the same either way).
   */
  readonly loss?: "module" | "block";
}

export interface MethodOptions {
  readonly method: CalibratedMethod;
  readonly format: WeightFormat;
  /**
   * Layers whose rows the format does not fit (group size or codec block not dividing the row): "error"
   * (default), or "fallback": one group per row for integer formats, F16 for ggml codecs (llama.cpp's own
   * fallback for such rows).
   */
  readonly unfitLayers?: "error" | "fallback";
  readonly gptq?: GptqMethodOptions;
  readonly awq?: AwqMethodOptions;
  /** The outlier method's side list (default 1% by Hessian saliency). */
  readonly outliers?: OutlierOptions;
}

/** The format a linear is quantized in, or undefined to keep it in floating point. */
function layerFormat(options: MethodOptions, l: FloatLinear): { format?: WeightFormat; note?: string } {
  const { format } = options;
  if (formatFits(format, l.cols)) return { format };
  const why =
    format.kind === "codec"
      ? `row length ${l.cols} is not a multiple of the ${format.codec.type.name} block size ${format.codec.type.blockSize}`
      : `group size ${format.scheme.groupSize} does not divide the row length ${l.cols}`;
  if ((options.unfitLayers ?? "error") === "error") {
    throw new BitsmithError(`${why}; choose a format that fits every layer, or allow a per-layer fallback (one group per row, or F16 for ggml types)`, { field: l.name });
  }
  if (format.kind === "codec") return { note: `${why}: kept in F16` };
  return { format: { kind: "integer", scheme: { ...format.scheme, groupSize: -1 } }, note: `${why}: one group per row` };
}

interface Quantized {
  weights?: QuantizedWeights;
  values: Float32Array;
  extra?: Partial<LinearReport>;
  inputScales?: Float64Array;
  outputScales?: Float64Array;
}

/** Records a layer's result and makes the block compute with its quantized values. */
function finish(l: FloatLinear, q: Quantized, note: string | undefined): LinearOutcome {
  l.w = q.values;
  const report: LinearReport = {
    name: l.name,
    rows: l.rows,
    cols: l.cols,
    stored: describeWeights(q.weights),
    bitsPerWeight: weightsBitsPerWeight(q.weights, l.rows, l.cols),
    ...q.extra,
    ...(note ? { note } : {}),
  };
  return { name: l.name, rows: l.rows, cols: l.cols, weights: q.weights, kept: q.weights ? undefined : q.values, inputScales: q.inputScales, outputScales: q.outputScales, report };
}

function keepFloat(l: FloatLinear): Quantized {
  return { values: l.w.map(fp16Value) };
}

function blockOutcome(b: FloatBlock, linears: LinearOutcome[], vBias?: Float32Array): BlockOutcome {
  const order = new Map(LINEAR_ROLES.map((r, i) => [b.linears[r].name, i]));
  linears.sort((x, y) => order.get(x.name)! - order.get(y.name)!);
  return { layer: b.layer, attnNorm: b.attnNorm, ffnNorm: b.ffnNorm, vBias, linears };
}

export function quantizeBlockRtn(b: FloatBlock, options: MethodOptions): BlockOutcome {
  const linears = LINEAR_ROLES.map((role) => {
    const l = b.linears[role];
    const { format, note } = layerFormat(options, l);
    if (!format) return finish(l, keepFloat(l), note);
    const r = rtnQuantize(l.name, l.w, l.rows, l.cols, format);
    return finish(l, r, note);
  });
  return blockOutcome(b, linears);
}

/** Hooks that hand each input (once, though q/k/v and gate/up share theirs) to `take`. */
function inputHooks(b: FloatBlock, take: (key: InputKey, x: Float32Array, rows: number, cols: number, first: number) => void): (first: number) => ForwardHooks {
  const firstReader = new Map<string, InputKey>();
  for (const role of LINEAR_ROLES) {
    const key = INPUT_OF[role];
    if (![...firstReader.values()].includes(key)) firstReader.set(b.linears[role].name, key);
  }
  return (first) => ({
    onLinearInput(name, x, rows, cols) {
      const key = firstReader.get(name);
      if (key) take(key, x, rows, cols, first);
    },
  });
}

const TRUE_SEQUENTIAL_STEPS: readonly (readonly LinearRole[])[] = [["q", "k", "v"], ["o"], ["gate", "up"], ["down"]];

export async function quantizeBlockGptq(b: FloatBlock, run: CalibrationRun, options: MethodOptions): Promise<BlockOutcome> {
  const g = options.gptq ?? {};
  const steps = (g.trueSequential ?? true) ? TRUE_SEQUENTIAL_STEPS : [LINEAR_ROLES];
  const withOutliers = options.method === "outlier";
  const linears: LinearOutcome[] = [];
  // The MLP's input, once the attention half is final: the MLP steps then only run the MLP half.
  let afterAttention: Float32Array | undefined;
  for (const step of steps) {
    const keys = new Set(step.map((r) => INPUT_OF[r]));
    const hessians = new Map([...keys].map((k) => [k, new HessianAccumulator(b.linears[step.find((r) => INPUT_OF[r] === k)!].cols, run.kernels)]));
    const mlpOnly = !keys.has("attn_in") && !keys.has("attn_out");
    if (mlpOnly && !afterAttention) afterAttention = await attentionOutput(b, run);
    await run.forward(engineWeights(b), {
      mode: "trial",
      part: mlpOnly ? "mlp" : keys.has("ffn_in") || keys.has("ffn_out") ? "block" : "attention",
      input: mlpOnly ? afterAttention : undefined,
      hooks: inputHooks(b, (key, x, rows) => hessians.get(key)?.add(x, rows)),
    });
    for (const key of keys) {
      const accumulator = hessians.get(key)!;
      const h = accumulator.hessian();
      accumulator.release();
      for (const role of step.filter((r) => INPUT_OF[r] === key)) {
        const l = b.linears[role];
        const { format, note } = layerFormat(options, l);
        if (!format) {
          linears.push(finish(l, keepFloat(l), note));
          continue;
        }
        let outlierMask: Uint8Array | undefined;
        if (withOutliers) {
          if (format.kind !== "integer") throw new BitsmithError("the outlier method needs integer groups (the side list has no GGUF form)", { field: l.name });
          const diag = Float64Array.from({ length: l.cols }, (_, c) => h[c * l.cols + c]!);
          const o = options.outliers ?? { fraction: 0.01 };
          outlierMask = selectOutliers(outlierSaliency(l.w, l.rows, l.cols, diag, format.scheme, o.saliency ?? "hessian"), o.fraction);
        }
        const r = gptqQuantize(l.name, l.w, l.rows, l.cols, h, { format, ...g, outlierMask, kernels: run.kernels });
        const outliers = r.weights.kind === "integer" ? r.weights.outliers?.indices.length : undefined;
        linears.push(finish(l, { weights: r.weights, values: r.values, extra: { loss: r.loss, damp: r.damp, deadColumns: r.deadColumns, outliers } }, note));
      }
    }
  }
  return blockOutcome(b, linears);
}

/** The residual stream after the block's attention half, with the block's current weights. */
async function attentionOutput(b: FloatBlock, run: CalibrationRun, hooks?: (first: number) => ForwardHooks): Promise<Float32Array> {
  const hidden = run.hp.hiddenSize;
  const out = new Float32Array(run.tokens * hidden);
  await run.forward(engineWeights(b), { mode: "trial", part: "attention", hooks, onOutput: (h, first, rows) => out.set(h.subarray(0, rows * hidden), first * hidden) });
  return out;
}

interface AwqMapping {
  /** The layer whose output feeds the balance layers: a norm, or a linear whose rows are divided by s. */
  readonly prev: "attnNorm" | "ffnNorm" | LinearRole;
  readonly balance: readonly LinearRole[];
  readonly input: InputKey;
}

/** llm-compressor's Llama mappings; v → o only where v's outputs are o's inputs one to one (no GQA). */
function awqMappings(b: FloatBlock): AwqMapping[] {
  const m: AwqMapping[] = [{ prev: "attnNorm", balance: ["q", "k", "v"], input: "attn_in" }];
  if (b.linears.v.rows === b.linears.o.cols) m.push({ prev: "v", balance: ["o"], input: "attn_out" });
  m.push({ prev: "ffnNorm", balance: ["gate", "up"], input: "ffn_in" });
  m.push({ prev: "up", balance: ["down"], input: "ffn_out" });
  return m;
}

export async function quantizeBlockAwq(b: FloatBlock, run: CalibrationRun, options: MethodOptions): Promise<BlockOutcome> {
  const a = options.awq ?? {};
  const hidden = run.hp.hiddenSize;
  const formats = new Map(LINEAR_ROLES.map((r) => [r, layerFormat(options, b.linears[r])]));

  // One pass of the float block: the stream after its attention half and after all of it (the targets), per
  // input its statistics, the Gram matrix of the inputs of o and down (whose mapping's loss is that one layer's
  // output error), and a sample of every input for the clip search (every step-th token, AutoAWQ's sampling).
  const stats = new Map<InputKey, ChannelStats>();
  const grams = new Map<InputKey, HessianAccumulator>();
  const clip = a.clip ?? true;
  const step = Math.max(1, Math.floor(run.tokens / Math.max(1, a.clipTokens ?? AWQ_CLIP_TOKENS)));
  const sampled = Math.ceil(run.tokens / step);
  const samples = new Map<InputKey, Float32Array>();
  const statHooks = inputHooks(b, (key, x, rows, cols, first) => {
    let st = stats.get(key);
    if (!st) stats.set(key, (st = new ChannelStats(cols)));
    st.add(x, rows);
    if (key === "attn_out" || key === "ffn_out") {
      let g = grams.get(key);
      if (!g) grams.set(key, (g = new HessianAccumulator(cols, run.kernels)));
      g.add(x, rows);
    }
    if (clip) {
      let sm = samples.get(key);
      if (!sm) samples.set(key, (sm = new Float32Array(sampled * cols)));
      for (let t = Math.ceil(first / step) * step; t < first + rows; t += step) sm.set(x.subarray((t - first) * cols, (t - first + 1) * cols), (t / step) * cols);
    }
  });
  const afterAttention = await attentionOutput(b, run, statHooks);
  const afterBlock = new Float32Array(run.tokens * hidden);
  await run.forward(engineWeights(b), {
    mode: "trial",
    part: "mlp",
    input: afterAttention,
    hooks: statHooks,
    onOutput: (h, first, rows) => afterBlock.set(h.subarray(0, rows * hidden), first * hidden),
  });

  /**
   * The loss of a mapping: the output error of the part its layers feed (llm-compressor's parent module: the
   * attention for q/k/v, the MLP for gate/up), or with loss "block" the whole block's for q/k/v; per output
   * value, averaged over the calibration tokens.
   */
  const partError = (part: "attention" | "mlp" | "block") => async (candidate: ReadonlyMap<string, Float32Array>) => {
    const target = part === "attention" ? afterAttention : afterBlock;
    let sum = 0;
    await run.forward(engineWeights(b, candidate), {
      mode: "trial",
      part,
      input: part === "mlp" ? afterAttention : undefined,
      onOutput: (out, first, rows) => {
        const t = target.subarray(first * hidden, (first + rows) * hidden);
        for (let i = 0; i < rows * hidden; i++) sum += (out[i]! - t[i]!) ** 2;
      },
    });
    return sum / target.length;
  };
  const attentionLoss = (a.loss ?? "module") === "block" ? "block" : "attention";

  const inputScales = new Map<InputKey, Float64Array>();
  const outputScales = new Map<LinearRole, Float64Array>();
  const ratios = new Map<LinearRole, number>();
  let vBias: Float32Array | undefined;
  for (const m of awqMappings(b)) {
    const balance = m.balance.filter((r) => formats.get(r)!.format);
    if (balance.length === 0) continue;
    // The group's layers must round the same way for one search; a fallback layer searches with its own format.
    const format = formats.get(balance[0]!)!.format!;
    const cols = b.linears[balance[0]!].cols;
    const st = stats.get(m.input)!;
    const loss = m.input === "attn_in" ? partError(attentionLoss) : m.input === "ffn_in" ? partError("mlp") : layerOutputError(b.linears[balance[0]!], grams.get(m.input)!.hessian(), run.kernels);
    const { scales, ratio } = await searchAwqScales({
      layers: balance.map((r) => ({ name: b.linears[r].name, w: b.linears[r].w, rows: b.linears[r].rows })),
      cols,
      xMean: st.meanAbs(),
      xSquares: st.meanSquares(),
      format,
      grid: a.grid,
      duoScaling: a.duoScaling,
      loss,
    });
    // Fold: the previous layer's output channel c divided by s_c, every balance layer's column c multiplied by it.
    if (m.prev === "attnNorm" || m.prev === "ffnNorm") {
      b[m.prev] = b[m.prev].map((v, c) => v / scales[c]!);
    } else {
      const p = b.linears[m.prev];
      for (let r = 0; r < p.rows; r++) for (let c = 0; c < p.cols; c++) p.w[r * p.cols + c] = p.w[r * p.cols + c]! / scales[r]!;
      if (m.prev === "v" && b.vBias) vBias = b.vBias.map((v, r) => v / scales[r]!);
      outputScales.set(m.prev, scales);
    }
    for (const r of m.balance) {
      const l = b.linears[r];
      for (let row = 0; row < l.rows; row++) for (let c = 0; c < l.cols; c++) l.w[row * l.cols + c] = l.w[row * l.cols + c]! * scales[c]!;
      ratios.set(r, ratio);
    }
    inputScales.set(m.input, scales);
    // The scaled model's layers see this input divided by s.
    const sm = samples.get(m.input);
    if (sm) for (let i = 0; i < sm.length; i++) sm[i] = sm[i]! / scales[i % cols]!;
  }
  if (vBias) b.vBias = vBias;

  // Importance of each input after scaling (the layer sees x / s): E[x²] / s².
  const importance = (key: InputKey) => {
    const sq = stats.get(key)!.meanSquares();
    const s = inputScales.get(key);
    return Float32Array.from(sq, (v, c) => (s ? v / (s[c]! * s[c]!) : v));
  };

  if (clip) {
    for (const role of LINEAR_ROLES) {
      const format = formats.get(role)!.format;
      if (!format || role === "q" || role === "k") continue;
      const l = b.linears[role];
      clipWeights({ name: l.name, w: l.w, rows: l.rows }, l.cols, samples.get(INPUT_OF[role])!, sampled, format, importance(INPUT_OF[role]));
    }
  }

  const linears = LINEAR_ROLES.map((role) => {
    const l = b.linears[role];
    const { format, note } = formats.get(role)!;
    if (!format) return finish(l, keepFloat(l), note);
    const r = rtnQuantize(l.name, l.w, l.rows, l.cols, format, format.kind === "codec" ? importance(INPUT_OF[role]) : undefined);
    return finish(l, { ...r, extra: ratios.has(role) ? { awqRatio: ratios.get(role) } : {}, inputScales: inputScales.get(INPUT_OF[role]), outputScales: outputScales.get(role) }, note);
  });
  return blockOutcome(b, linears, vBias);
}
