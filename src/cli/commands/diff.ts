/** `bitsmith diff <tuned> <base> -o <out>`: the task vector tuned − base as a checkpoint of its own. */
import type { Command } from "commander";
import { diffModels } from "../../merge/index.js";
import { nodeFileSystem } from "../../node/fs.js";
import { printJson, progressFor } from "../common.js";
import { parseShardSize } from "../../formats/safetensors/index.js";
import { parseDtypeOption, withOutputCleanup } from "../merge-output.js";

interface DiffFlags {
  output: string;
  dtype: string;
  maxShardSize?: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerDiff(program: Command): void {
  program
    .command("diff")
    .description("write the task vector tuned - base (a Hugging Face-like checkpoint of differences)")
    .argument("<tuned>", "fine-tuned model")
    .argument("<base>", "the model it was tuned from")
    .requiredOption("-o, --output <out>", "a directory (config and tokenizer of <tuned>), a .safetensors or a .gguf file")
    .option("--dtype <type>", "type of the differences (float32, float16, bfloat16)", "float32")
    .option("--max-shard-size <size>", "safetensors shards of at most this size (e.g. 2GB)")
    .option("--quiet", "no progress bar")
    .option("--json", "machine-readable result")
    .addHelpText("after", "\nExample:\n  bitsmith diff ./llama-chat ./llama -o ./chat-vector\n  bitsmith apply ./other-llama ./chat-vector --scale 0.8 -o ./other-chat")
    .action(async (tuned: string, base: string, opts: DiffFlags) => {
      const started = performance.now();
      const files = await withOutputCleanup(opts.output, () =>
        diffModels(nodeFileSystem, tuned, base, opts.output, {
          outType: parseDtypeOption(opts.dtype, "--dtype"),
          maxShardSize: opts.maxShardSize ? parseShardSize(opts.maxShardSize) : undefined,
          progress: progressFor(opts),
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      if (opts.json) printJson({ tuned, base, out: opts.output, files, seconds });
      else if (!opts.quiet) process.stderr.write(`wrote ${files.join(", ")} in ${seconds.toFixed(2)} s\n`);
    });
}
