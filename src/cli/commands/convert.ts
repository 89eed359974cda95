/**
 * `bitsmith convert <src> <dst>`: llama2.c / HF directory / GGUF to GGUF (dst ends in .gguf), or to a Hugging
 * Face directory (any other dst).
 */
import type { Command } from "commander";
import { BitsmithError } from "../../core/index.js";
import { convertToGguf } from "../../convert/to-gguf.js";
import { convertToHf } from "../../convert/to-hf.js";
import { parseOutType } from "../../convert/outtype.js";
import { parseShardSize } from "../../formats/safetensors/index.js";
import { nodeFileSystem } from "../../node/fs.js";
import { printJson, progressFor, withModel } from "../common.js";

interface ConvertOpts {
  outtype: string;
  tokenizer?: string;
  splitMaxTensors?: string;
  splitMaxSize?: string;
  maxShardSize?: string;
  quiet?: boolean;
  json?: boolean;
}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new BitsmithError(`must be a positive whole number, got "${text}"`, { field: flag });
  return n;
}

export function registerConvert(program: Command): void {
  program
    .command("convert")
    .description("convert a model between llama2.c, Hugging Face (safetensors) and GGUF")
    .argument("<src>", "GGUF file, HF directory, llama2.c checkpoint or @demo")
    .argument("<dst>", "output: a .gguf file, or a directory for Hugging Face layout")
    .option("--outtype <type>", "f32, f16, bf16, q8_0, or auto (keep F32/F16/BF16 as they are)", "auto")
    .option("--tokenizer <file>", "llama2.c tokenizer file (default: tok*.bin beside the checkpoint)")
    .option("--split-max-tensors <n>", "GGUF: write gguf-split shards of at most n tensors")
    .option("--split-max-size <size>", "GGUF: write gguf-split shards of at most this size (e.g. 2G, 500M)")
    .option("--max-shard-size <size>", "HF: safetensors shards of at most this size (e.g. 5GB)")
    .option("--quiet", "no progress bar")
    .option("--json", "machine-readable result")
    .addHelpText(
      "after",
      "\nExamples:\n  bitsmith convert stories260K.bin stories260K.gguf            # llama2.c -> GGUF (tok*.bin beside it)\n" +
        "  bitsmith convert ./Mistral-7B-v0.1 mistral-f16.gguf --outtype f16\n" +
        "  bitsmith convert model.gguf ./model-hf --max-shard-size 2GB  # GGUF -> Hugging Face directory",
    )
    .action(async (src: string, dst: string, opts: ConvertOpts) => {
      const outtype = parseOutType(opts.outtype);
      const progress = progressFor(opts);
      const started = performance.now();
      await withModel(src, opts.tokenizer, async (model) => {
        let files: string[];
        if (dst.endsWith(".gguf")) {
          const split =
            opts.splitMaxTensors || opts.splitMaxSize
              ? {
                  maxTensorsPerShard: opts.splitMaxTensors ? positiveInt(opts.splitMaxTensors, "--split-max-tensors") : undefined,
                  maxShardBytes: opts.splitMaxSize ? parseShardSize(opts.splitMaxSize) : undefined,
                }
              : undefined;
          files = (await convertToGguf(model, nodeFileSystem, dst, { outtype, progress, split })).files;
        } else {
          const maxShardSize = opts.maxShardSize ? parseShardSize(opts.maxShardSize) : undefined;
          files = await convertToHf(model, nodeFileSystem, dst, { outtype, progress, maxShardSize });
        }
        const seconds = (performance.now() - started) / 1000;
        if (opts.json) printJson({ src, dst, outtype, files, seconds });
        else if (!opts.quiet) process.stderr.write(`wrote ${files.join(", ")} in ${seconds.toFixed(2)} s\n`);
      });
    });
}
