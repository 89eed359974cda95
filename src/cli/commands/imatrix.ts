/**
 * `bitsmith imatrix <model> --text <file>`: the importance matrix llama-imatrix computes (sums of squared input
 * activations per column of every weight matrix), written in llama.cpp's GGUF layout or its legacy .dat.
 */
import type { Command } from "commander";
import { computeImatrix } from "../../calibrate/imatrix.js";
import { encodeImatrixDat, imatrixGgufWriter, imatrixToLegacyLayout } from "../../formats/imatrix/index.js";
import { nodeFileSystem } from "../../node/fs.js";
import { KERNELS_HELP, THREADS_HELP, kernelsFromFlags } from "../kernel-options.js";
import type { KernelFlags } from "../kernel-options.js";
import { printJson, progressFor } from "../common.js";
import { choiceOption, integerOption } from "../option-values.js";
import { openRunnableModel } from "../run-model.js";
import { readEvalText } from "../text-file.js";

interface ImatrixFlags extends KernelFlags {
  text: string;
  ctx: string;
  chunks?: string;
  output: string;
  outputFormat: string;
  processOutput?: boolean;
  tokenizer?: string;
  json?: boolean;
  quiet?: boolean;
}

export function registerImatrix(program: Command): void {
  program
    .command("imatrix")
    .description("compute an importance matrix as llama-imatrix does, for quantize --imatrix")
    .argument("<model>", "GGUF file, HF directory, llama2.c checkpoint or @demo")
    .requiredOption("--text <file>", "calibration text (UTF-8)")
    .option("-c, --ctx <n>", "tokens per chunk", "512")
    .option("--chunks <n>", "use at most n chunks")
    .option("-o, --output <file>", "output file", "imatrix.gguf")
    .option("--output-format <fmt>", "gguf (llama.cpp's current layout) or dat (legacy)", "gguf")
    .option("--process-output", "also collect output.weight (llama-imatrix leaves it out by default)")
    .option("--tokenizer <file>", "llama2.c tokenizer file (default: tok*.bin beside the checkpoint)")
    .option("--threads <n>", THREADS_HELP)
    .option("--kernels <kind>", KERNELS_HELP, "auto")
    .option("--json", "machine-readable result")
    .option("--quiet", "no progress bar")
    .addHelpText("after", "\nExample:\n  bitsmith imatrix model-f16.gguf --text calibration.txt -c 512 -o imatrix.gguf\n  bitsmith quantize model-f16.gguf model-IQ3_XXS.gguf IQ3_XXS --imatrix imatrix.gguf")
    .action(async (path: string, flags: ImatrixFlags) => {
      const ctx = integerOption(flags.ctx, "--ctx", 4);
      const maxChunks = flags.chunks === undefined ? undefined : integerOption(flags.chunks, "--chunks");
      const format = choiceOption(flags.outputFormat, "--output-format", ["gguf", "dat"] as const);
      const text = await readEvalText(flags.text);
      const kernels = await kernelsFromFlags(flags);
      const started = performance.now();
      try {
        const model = await openRunnableModel(path, flags.tokenizer, { kernels });
        try {
          const tokens = model.tokenizer.encode(text, { addSpecial: true, parseSpecial: false });
          const imatrix = await computeImatrix(model.engine, tokens, {
            ctx,
            maxChunks,
            bosId: model.tokenizer.addBos ? model.tokenizer.bosId : undefined,
            processOutput: flags.processOutput,
            dataset: flags.text,
            progress: progressFor(flags),
          });
          if (format === "gguf") {
            await imatrixGgufWriter(imatrix).write(await nodeFileSystem.create(flags.output));
          } else {
            const sink = await nodeFileSystem.create(flags.output);
            try {
              await sink.write(encodeImatrixDat(imatrixToLegacyLayout(imatrix)));
              await sink.commit();
            } catch (e) {
              await sink.abort();
              throw e;
            }
          }
          const summary = { model: path, text: flags.text, output: flags.output, format, chunks: imatrix.chunkCount, ctx, matrices: imatrix.entries.size, seconds: (performance.now() - started) / 1000 };
          if (flags.json) printJson(summary);
          else if (!flags.quiet) process.stderr.write(`wrote ${summary.matrices} matrices from ${summary.chunks} chunks of ${ctx} tokens to ${flags.output} in ${summary.seconds.toFixed(2)} s\n`);
        } finally {
          await model.source.close();
        }
      } finally {
        await kernels.close();
      }
    });
}
