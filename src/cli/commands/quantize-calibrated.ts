/**
 * `bitsmith quantize <in> <out> --method gptq|awq|rtn|outlier`: calibration-based quantization (src/methods)
 * inside the quantize command. The output is a Hugging Face directory in the GPTQ, AWQ or compressed-tensors
 * layout, or a GGUF file with `--format gguf:TYPE` (any ggml block type as GPTQ's / AWQ's rounding function).
 *
 * Every finished block is saved under `<out>.partial/`; after an interruption `--resume` continues from the
 * last saved block (same model, options and calibration data). The directory is removed on success.
 */
import { rm } from "node:fs/promises";
import * as path from "node:path";
import type { Command } from "commander";
import { BitsmithError } from "../../core/index.js";
import type { ModelSource } from "../../core/index.js";
import { calibrationTokens, parseCalibrationFile, sampleCalibrationWindows, DEFAULT_CALIBRATION_SAMPLES, DEFAULT_CALIBRATION_SEQLEN } from "../../calibrate/calibration-data.js";
import { chatTemplateOf } from "../../calibrate/chat-template.js";
import { requireCodec } from "../../codecs/index.js";
import { QUANTIZED_LAYOUTS } from "../../formats/quantized-hf/index.js";
import type { QuantizedLayoutName, ScaleType } from "../../formats/quantized-hf/index.js";
import { CALIBRATED_METHODS } from "../../methods/pipeline/block-methods.js";
import type { CalibratedMethod, MethodOptions } from "../../methods/pipeline/block-methods.js";
import { checkQuantizedHfLayout, writeQuantizedGguf, writeQuantizedHf } from "../../methods/pipeline/outputs.js";
import { DirectoryQuantizationStore } from "../../methods/pipeline/result-store.js";
import { quantizeBlocks } from "../../methods/pipeline/sequential.js";
import type { QuantizationRun } from "../../methods/pipeline/sequential.js";
import type { WeightFormat } from "../../methods/weight-format.js";
import { KERNELS_HELP, kernelsFromFlags } from "../kernel-options.js";
import type { KernelFlags } from "../kernel-options.js";
import { nodeFileSystem } from "../../node/fs.js";
import { createModelTokenizer } from "../../tokenizer/index.js";
import { choiceOption, integerOption, numberOption } from "../option-values.js";
import { printJson, progressFor, withModel } from "../common.js";

export interface CalibratedFlags extends KernelFlags {
  method?: string;
  bits: string;
  groupSize: string;
  sym?: boolean;
  format?: string;
  calib?: string;
  calibSamples: string;
  calibSeqlen?: string;
  seed: string;
  actOrder?: boolean;
  staticGroups?: boolean;
  damp: string;
  mseClip?: boolean;
  awqGrid: string;
  awqNoClip?: boolean;
  outlierFraction: string;
  outlierSaliency: string;
  groupFallback?: boolean;
  batchTokens: string;
  resume?: boolean;
  tokenizer?: string;
  quiet?: boolean;
  json?: boolean;
}

/** The flags of the calibrated path, added to the quantize command. */
export function addCalibratedQuantizeOptions(command: Command): Command {
  return command
    .option("--kernels <kind>", KERNELS_HELP, "auto")
    .option("--method <name>", `calibration-based quantization: ${CALIBRATED_METHODS.join(", ")} (then: <in> <out> [threads], no TYPE)`)
    .option("--format <format>", "output: gptq, awq, compressed-tensors (Hugging Face directory) or gguf:TYPE (e.g. gguf:Q4_K); default by method")
    .option("--bits <n>", "--method: bits per weight of integer groups (2-8)", "4")
    .option("--group-size <n>", "--method: input columns per group; -1 = one group per row", "128")
    .option("--sym", "--method: symmetric groups (default: symmetric for gptq and compressed-tensors, asymmetric for awq)")
    .option("--asym", "--method: asymmetric groups (with zero points)")
    .option("--calib <file>", "calibration text (.txt) or JSONL with a text or messages field per line")
    .option("--calib-samples <n>", "calibration windows", String(DEFAULT_CALIBRATION_SAMPLES))
    .option("--calib-seqlen <n>", `tokens per window (default ${DEFAULT_CALIBRATION_SEQLEN}, at most the model's context length)`)
    .option("--seed <n>", "seed of the calibration sampling", "0")
    .option("--act-order", "gptq: quantize columns by decreasing Hessian diagonal (desc_act)")
    .option("--static-groups", "gptq: with --act-order, fix group parameters before the pass")
    .option("--damp <fraction>", "gptq: dampening, fraction of the mean Hessian diagonal", "0.01")
    .option("--mse-clip", "rtn, gptq: search a shrunk range per group (GPTQ's mse option)")
    .option("--awq-grid <n>", "awq: scale grid points", "20")
    .option("--awq-no-clip", "awq: skip the weight clipping search")
    .option("--outlier-fraction <f>", "outlier: fraction of weights kept in fp16", "0.01")
    .option("--outlier-saliency <kind>", "outlier: hessian or activation", "hessian")
    .option("--group-fallback", "layers the group size or ggml block does not fit: one group per row (integer) or F16 (ggml), instead of an error")
    .option("--batch-tokens <n>", "calibration tokens per block forward (memory vs speed)", "4096")
    .option("--resume", "continue an interrupted run from <out>.partial");
}

const DEFAULT_LAYOUT: Record<CalibratedMethod, QuantizedLayoutName> = { gptq: "gptq", awq: "awq", rtn: "compressed-tensors", outlier: "compressed-tensors" };

interface OutputChoice {
  format: WeightFormat;
  layout?: QuantizedLayoutName;
}

function outputChoice(method: CalibratedMethod, flags: CalibratedFlags & { asym?: boolean }, out: string): OutputChoice {
  const f = flags.format ?? (out.endsWith(".gguf") ? undefined : DEFAULT_LAYOUT[method]);
  if (f === undefined) throw new BitsmithError("a .gguf output needs a ggml type: --format gguf:TYPE (e.g. gguf:Q4_K)", { field: "--format" });
  if (f.toLowerCase().startsWith("gguf:")) {
    if (!out.endsWith(".gguf")) throw new BitsmithError(`--format ${f} writes a GGUF file: name the output *.gguf`, { field: "--format" });
    return { format: { kind: "codec", codec: requireCodec(f.slice(5)) } };
  }
  if (!Object.hasOwn(QUANTIZED_LAYOUTS, f)) throw new BitsmithError(`--format must be ${Object.keys(QUANTIZED_LAYOUTS).join(", ")} or gguf:TYPE, got "${f}"`, { field: "--format" });
  const layout = f as QuantizedLayoutName;
  if (out.endsWith(".gguf")) throw new BitsmithError(`--format ${layout} writes a Hugging Face directory, not a .gguf file`, { field: "--format" });
  if (flags.sym && flags.asym) throw new BitsmithError("give --sym or --asym, not both", { field: "--sym" });
  const symmetric = flags.sym ? true : flags.asym ? false : layout !== "awq";
  const bits = integerOption(flags.bits, "--bits", 2, 8);
  const groupSize = Number(flags.groupSize) === -1 ? -1 : integerOption(flags.groupSize, "--group-size", 1);
  const scaleType: ScaleType = "F16";
  // GPTQ's "gptq" checkpoint format stores zero − 1, so zero points start at 1 there.
  const minZero = layout === "gptq" && !symmetric ? 1 : 0;
  return { format: { kind: "integer", scheme: { bits, groupSize, symmetric, scaleType, clipSearch: flags.mseClip, minZero } }, layout };
}

/** The calibration windows from --calib, tokenized by the model's tokenizer. */
async function calibrationWindows(model: ModelSource, flags: CalibratedFlags): Promise<Int32Array[]> {
  if (!flags.calib) throw new BitsmithError("this method needs calibration data: --calib <file> (text, or JSONL with text or messages)", { field: "--calib" });
  if (!model.info.tokenizer) throw new BitsmithError("the model has no tokenizer to turn the calibration text into tokens", { file: model.name });
  const tokenizer = createModelTokenizer(model.info, model.name);
  const docs = parseCalibrationFile(await nodeFileSystem.readText(flags.calib), flags.calib);
  const tokens = calibrationTokens(docs, tokenizer, chatTemplateOf(model.info.tokenizer), flags.calib);
  const context = model.info.hparams?.contextLength ?? DEFAULT_CALIBRATION_SEQLEN;
  const seqLen = flags.calibSeqlen !== undefined ? integerOption(flags.calibSeqlen, "--calib-seqlen", 2) : Math.min(DEFAULT_CALIBRATION_SEQLEN, context);
  return sampleCalibrationWindows(tokens, { samples: integerOption(flags.calibSamples, "--calib-samples"), seqLen, seed: integerOption(flags.seed, "--seed", 0) }, flags.calib);
}

function methodOptions(method: CalibratedMethod, format: WeightFormat, flags: CalibratedFlags): MethodOptions {
  return {
    method,
    format,
    unfitLayers: flags.groupFallback ? "fallback" : "error",
    gptq: { dampPercent: numberOption(flags.damp, "--damp", 0, 1), actOrder: flags.actOrder, staticGroups: flags.staticGroups },
    awq: { grid: integerOption(flags.awqGrid, "--awq-grid", 1, 1000), clip: !flags.awqNoClip },
    outliers: {
      fraction: numberOption(flags.outlierFraction, "--outlier-fraction", 0, 0.5),
      saliency: choiceOption(flags.outlierSaliency, "--outlier-saliency", ["hessian", "activation"] as const),
    },
  };
}

function printReport(run: QuantizationRun, files: string[], seconds: number): void {
  const w = Math.max(4, ...run.reports.map((r) => r.name.length));
  const lines = [`${"name".padEnd(w)}  ${"stored".padEnd(26)} ${"bpw".padStart(6)}  detail`];
  for (const r of run.reports) {
    const detail = [
      r.loss !== undefined ? `loss ${r.loss.toExponential(3)}` : "",
      r.damp !== undefined && r.damp !== 0.01 ? `damp ${r.damp}` : "",
      r.awqRatio !== undefined ? `alpha ${r.awqRatio.toFixed(2)}` : "",
      r.deadColumns ? `${r.deadColumns} dead columns` : "",
      r.note ?? "",
    ].filter((s) => s !== "");
    lines.push(`${r.name.padEnd(w)}  ${r.stored.padEnd(26)} ${r.bitsPerWeight.toFixed(3).padStart(6)}  ${detail.join(", ")}`);
  }
  lines.push("", `${run.bitsPerWeight.toFixed(3)} bits per weight over the block linears; wrote ${files.length} files to ${files.length === 1 ? files[0] : path.dirname(files[0]!)} in ${seconds.toFixed(1)} s`);
  process.stdout.write(lines.join("\n") + "\n");
}

/** Flags of llama-quantize's path, which --method does not use. */
export interface RecipeFlags {
  imatrix?: string;
  tensorType?: string[];
  pure?: boolean;
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  leaveOutputTensor?: boolean;
  allowRequantize?: boolean;
  keepSplit?: boolean;
  dryRun?: boolean;
}

export async function runCalibratedQuantize(input: string, rest: string[], flags: CalibratedFlags & RecipeFlags & { asym?: boolean }): Promise<void> {
  const method = choiceOption(flags.method!, "--method", CALIBRATED_METHODS);
  const recipeOnly = Object.entries({
    "--imatrix": flags.imatrix !== undefined,
    "--tensor-type": (flags.tensorType?.length ?? 0) > 0,
    "--pure": flags.pure,
    "--output-tensor-type": flags.outputTensorType !== undefined,
    "--token-embedding-type": flags.tokenEmbeddingType !== undefined,
    "--leave-output-tensor": flags.leaveOutputTensor,
    "--allow-requantize": flags.allowRequantize,
    "--keep-split": flags.keepSplit,
    "--dry-run": flags.dryRun,
  }).find(([, given]) => given);
  if (recipeOnly) throw new BitsmithError(`${recipeOnly[0]} belongs to llama.cpp's recipes (quantize <in> <out> <TYPE>), not to --method`, { field: recipeOnly[0] });
  if (rest.length < 1 || rest.length > 2) throw new BitsmithError("with --method the arguments are <in> <out> [threads]", { field: "arguments" });
  const out = rest[0]!;
  if (path.resolve(out) === path.resolve(input)) throw new BitsmithError("input and output are the same file", { file: input });
  const { format, layout } = outputChoice(method, flags, out);
  const options = methodOptions(method, format, flags);
  const workDir = `${out.replace(/[/\\]+$/, "")}.partial`;
  const kernels = await kernelsFromFlags(flags, rest[1]);
  const started = performance.now();
  try {
    await withModel(input, flags.tokenizer, async (model) => {
      if (layout) checkQuantizedHfLayout(model, format, layout, options.unfitLayers);
      const calibration = method === "rtn" ? undefined : await calibrationWindows(model, flags);
      const run = await quantizeBlocks(model, {
        ...options,
        calibration,
        batchTokens: integerOption(flags.batchTokens, "--batch-tokens"),
        store: new DirectoryQuantizationStore(nodeFileSystem, workDir),
        resume: flags.resume,
        kernels,
        progress: progressFor(flags),
      });
      const progress = progressFor(flags);
      const files = layout
        ? await writeQuantizedHf(run, nodeFileSystem, out, { layout, original: model, progress })
        : await writeQuantizedGguf(run, nodeFileSystem, out, { progress });
      await rm(workDir, { recursive: true, force: true });
      const seconds = (performance.now() - started) / 1000;
      if (flags.json) return printJson({ input, output: out, files, method, layout: layout ?? "gguf", bitsPerWeight: run.bitsPerWeight, seconds, linears: run.reports });
      if (!flags.quiet) printReport(run, files, seconds);
    });
  } catch (e) {
    if (!flags.quiet && !flags.json && (await nodeFileSystem.exists(workDir))) process.stderr.write(`finished blocks are kept in ${workDir}: rerun with --resume to continue\n`);
    throw e;
  } finally {
    await kernels.close();
  }
}
