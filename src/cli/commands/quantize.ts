/**
 * `bitsmith quantize <in> [out.gguf] <TYPE> [threads]`: llama-quantize, with its flags and its recipes, writing
 * byte-identical files. `--dry-run` prints the plan (every tensor's type and why) without writing.
 */
import { availableParallelism } from "node:os";
import * as path from "node:path";
import type { Command } from "commander";
import { BitsmithError } from "../../core/index.js";
import { readImatrix } from "../../formats/imatrix/index.js";
import { QUANTIZE_FILE_TYPES, parseQuantizeFileType } from "../../quantize/ftype.js";
import { planModelQuantization, quantizeModel } from "../../quantize/quantize-model.js";
import type { QuantizeOptions, QuantizePlan } from "../../quantize/quantize-model.js";
import { SingleThreadRowQuantizer } from "../../quantize/row-quantizer.js";
import type { RowQuantizer } from "../../quantize/row-quantizer.js";
import { nodeFileSystem } from "../../node/fs.js";
import { WorkerRowQuantizer } from "../../node/worker-row-quantizer.js";
import { integerOption } from "../option-values.js";
import { formatBytes, printJson, progressFor, withModel } from "../common.js";
import { addCalibratedQuantizeOptions, runCalibratedQuantize } from "./quantize-calibrated.js";
import type { CalibratedFlags, RecipeFlags } from "./quantize-calibrated.js";

interface QuantizeOpts extends RecipeFlags {
  tensorType: string[];
  tokenizer?: string;
  quiet?: boolean;
  json?: boolean;
}

/**
 * The positional arguments as llama-quantize reads them: `<in> <TYPE>` (output beside the input as
 * ggml-model-<TYPE>.gguf) or `<in> <out> <TYPE>`, then an optional thread count.
 */
function positionals(input: string, rest: string[], dryRun: boolean): { out?: string; type: string; threads?: string } {
  const isType = (s: string | undefined) => s !== undefined && QUANTIZE_FILE_TYPES.some((t) => t.name === s.toUpperCase() || String(t.ftype) === s);
  if (isType(rest[0]) && (rest.length === 1 || /^\d+$/.test(rest[1] ?? "") || dryRun)) {
    const type = parseQuantizeFileType(rest[0]!).name;
    return { out: dryRun ? undefined : path.join(path.dirname(input), `ggml-model-${type}.gguf`), type: rest[0]!, threads: rest[1] };
  }
  if (rest.length === 1) return { out: undefined, type: parseQuantizeFileType(rest[0]!).name };
  if (rest.length > 3) throw new BitsmithError(`unexpected argument "${rest[3]}"`, { field: "arguments" });
  return { out: rest[0], type: rest[1]!, threads: rest[2] };
}

function printPlan(plan: QuantizePlan): void {
  const nameWidth = Math.max(4, ...plan.tensors.map((t) => t.name.length));
  const lines = [`${"name".padEnd(nameWidth)}  ${"shape".padEnd(14)} ${"from".padEnd(7)} ${"to".padEnd(7)} ${"bytes".padStart(10)}  reason`];
  for (const t of plan.tensors) {
    lines.push(`${t.name.padEnd(nameWidth)}  ${JSON.stringify(t.shape).padEnd(14)} ${t.from.name.padEnd(7)} ${t.to.name.padEnd(7)} ${String(t.bytesOut).padStart(10)}  ${t.reason}`);
  }
  lines.push("", `${plan.fileType.name} (general.file_type ${plan.ftype}): ${formatBytes(plan.bytesIn)} -> ${formatBytes(plan.bytesOut)}`);
  process.stdout.write(lines.join("\n") + "\n");
}

function planJson(plan: QuantizePlan) {
  return {
    type: plan.fileType.name,
    fileType: plan.ftype,
    bytesIn: plan.bytesIn,
    bytesOut: plan.bytesOut,
    tensors: plan.tensors.map((t) => ({ name: t.name, shape: t.shape, from: t.from.name, to: t.to.name, reason: t.reason, bytes: t.bytesOut, imatrix: t.usesImatrix })),
    warnings: plan.warnings,
    problems: plan.problems,
  };
}

export function registerQuantize(program: Command): void {
  const command = program
    .command("quantize")
    .description("quantize a model to GGUF with llama.cpp's recipes (Q4_K_M, Q8_0, IQ4_XS, ...), byte-identical to llama-quantize")
    .usage("[options] <in> [out.gguf] <TYPE> [threads]")
    .argument("<in>", "GGUF file (split: the first shard), HF directory, llama2.c checkpoint or @demo")
    .argument("<args...>", "[out.gguf] <TYPE> [threads]")
    .option("--imatrix <file>", "importance matrix from llama-imatrix (GGUF or legacy .dat)")
    .option("--tensor-type <NAME=TYPE>", "quantize tensors whose name matches the regular expression NAME to TYPE (repeatable)", (v: string, acc: string[]) => [...acc, v], [])
    .option("--pure", "no k-quant mixture: every quantized tensor gets the type's default type")
    .option("--output-tensor-type <type>", "type of output.weight")
    .option("--token-embedding-type <type>", "type of token_embd.weight")
    .option("--leave-output-tensor", "copy output.weight as it is")
    .option("--allow-requantize", "allow converting tensors that are already quantized (loses quality)")
    .option("--keep-split", "one output file per input shard")
    .option("--tokenizer <file>", "llama2.c tokenizer file (default: tok*.bin beside the checkpoint)")
    .option("--dry-run", "print the plan (type of every tensor and why) and sizes, write nothing")
    .option("--quiet", "no progress bar or warnings")
    .option("--json", "machine-readable result")
    .addHelpText(
      "after",
      "\nTypes: " +
        QUANTIZE_FILE_TYPES.map((t) => t.name).join(", ") +
        "\n\nExamples:\n  bitsmith quantize model-f16.gguf model-Q4_K_M.gguf Q4_K_M\n" +
        "  bitsmith quantize model-f16.gguf model-IQ2_XS.gguf IQ2_XS 4 --imatrix imatrix.gguf\n" +
        "  bitsmith quantize ./Mistral-7B-v0.1 mistral-q8_0.gguf Q8_0 --tensor-type 'ffn_down=q6_k'\n" +
        "  bitsmith quantize model-f16.gguf Q4_K_M --dry-run\n" +
        "  bitsmith quantize ./Llama-3.2-1B ./Llama-3.2-1B-GPTQ --method gptq --bits 4 --group-size 128 --calib calib.txt\n" +
        "  bitsmith quantize ./Llama-3.2-1B llama-gptq-Q4_K.gguf --method gptq --format gguf:Q4_K --calib calib.jsonl",
    );
  addCalibratedQuantizeOptions(command).action(async (input: string, rest: string[], opts: QuantizeOpts & CalibratedFlags) => {
      if (opts.method !== undefined) return runCalibratedQuantize(input, rest, opts);
      const dryRun = opts.dryRun ?? false;
      const args = positionals(input, rest, dryRun);
      parseQuantizeFileType(args.type);
      const threads = args.threads !== undefined ? integerOption(args.threads, "threads", 1, 256) : availableParallelism();
      if (args.out !== undefined && path.resolve(args.out) === path.resolve(input)) throw new BitsmithError("input and output are the same file", { file: input });
      const imatrix = opts.imatrix ? await readImatrix(nodeFileSystem, opts.imatrix) : undefined;
      const options: QuantizeOptions = {
        type: args.type,
        imatrix,
        tensorTypes: opts.tensorType,
        pure: opts.pure,
        outputTensorType: opts.outputTensorType,
        tokenEmbeddingType: opts.tokenEmbeddingType,
        leaveOutputTensor: opts.leaveOutputTensor,
        allowRequantize: opts.allowRequantize,
        keepSplit: opts.keepSplit,
      };
      const warn = (lines: readonly string[]) => {
        if (!opts.quiet && !opts.json) for (const l of lines) process.stderr.write(`warning: ${l}\n`);
      };

      await withModel(input, opts.tokenizer, async (model) => {
        if (dryRun) {
          const plan = planModelQuantization(model, { ...options, dryRun: true });
          if (opts.json) return printJson(planJson(plan));
          printPlan(plan);
          warn(plan.warnings);
          warn(plan.problems.map((p) => `a real run would fail: ${p}`));
          return;
        }
        const rowQuantizer: RowQuantizer = threads > 1 ? new WorkerRowQuantizer(threads) : new SingleThreadRowQuantizer();
        const started = performance.now();
        try {
          const { files, plan } = await quantizeModel(model, nodeFileSystem, args.out!, { ...options, rowQuantizer, progress: progressFor(opts) });
          const seconds = (performance.now() - started) / 1000;
          if (opts.json) return printJson({ input, files, threads, seconds, ...planJson(plan) });
          warn(plan.warnings);
          if (!opts.quiet) {
            process.stderr.write(
              `wrote ${files.join(", ")}: ${plan.fileType.name}, ${formatBytes(plan.bytesIn)} -> ${formatBytes(plan.bytesOut)} in ${seconds.toFixed(2)} s (${threads} thread${threads > 1 ? "s" : ""})\n`,
            );
          }
        } finally {
          await rowQuantizer.close();
        }
      });
    });
}
