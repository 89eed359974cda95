/** `bitsmith apply <base> <delta> --scale s -o <out>`: base + s × a task vector written by `bitsmith diff`. */
import type { Command } from "commander";
import { applyTaskVector } from "../../merge/index.js";
import { nodeFileSystem } from "../../node/fs.js";
import { printJson, progressFor } from "../common.js";
import { parseShardSize } from "../../formats/safetensors/index.js";
import { parseDtypeOption, withOutputCleanup } from "../merge-output.js";
import { numberOption } from "../option-values.js";

interface ApplyFlags {
  output: string;
  scale: string;
  dtype?: string;
  maxShardSize?: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerApply(program: Command): void {
  program
    .command("apply")
    .description("add a task vector (from bitsmith diff) times --scale to a model")
    .argument("<base>", "the model to change")
    .argument("<delta>", "task vector: a directory or file written by bitsmith diff")
    .requiredOption("-o, --output <out>", "a Hugging Face directory, or a .gguf file")
    .option("--scale <s>", "multiplier of the task vector", "1")
    .option("--dtype <type>", "output type (float32, float16, bfloat16); default: the base model's")
    .option("--max-shard-size <size>", "safetensors shards of at most this size (e.g. 2GB)")
    .option("--quiet", "no progress bar")
    .option("--json", "machine-readable result")
    .action(async (base: string, delta: string, opts: ApplyFlags) => {
      const started = performance.now();
      const scale = numberOption(opts.scale, "--scale");
      const files = await withOutputCleanup(opts.output, () =>
        applyTaskVector(nodeFileSystem, base, delta, scale, opts.output, {
          outType: opts.dtype ? parseDtypeOption(opts.dtype, "--dtype") : undefined,
          maxShardSize: opts.maxShardSize ? parseShardSize(opts.maxShardSize) : undefined,
          progress: progressFor(opts),
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      if (opts.json) printJson({ base, delta, scale, out: opts.output, files, seconds });
      else if (!opts.quiet) process.stderr.write(`wrote ${files.join(", ")} in ${seconds.toFixed(2)} s\n`);
    });
}
