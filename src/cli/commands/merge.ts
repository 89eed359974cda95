/** `bitsmith merge <config.yaml> <out>`: a mergekit configuration merged into a Hugging Face directory or a GGUF. */
import type { Command } from "commander";
import { mergeModels, parseMergeConfig } from "../../merge/index.js";
import { nodeFileSystem } from "../../node/fs.js";
import { printJson, progressFor } from "../common.js";
import { parseDtypeOption, parseOutShardSize, withOutputCleanup } from "../merge-output.js";
import { integerOption } from "../option-values.js";

interface MergeFlags {
  outShardSize?: string;
  dtype?: string;
  randomSeed: string;
  quiet?: boolean;
  json?: boolean;
}

export function registerMerge(program: Command): void {
  program
    .command("merge")
    .description("merge models as a mergekit YAML configuration says (linear, ties, dare, slerp, passthrough, ...)")
    .argument("<config>", "mergekit YAML configuration")
    .argument("<out>", "output: a Hugging Face directory, or a .gguf file")
    .option("--out-shard-size <size>", "HF: safetensors shards of at most this size (mergekit style 5B = 5e9 bytes, or 2GB)")
    .option("--dtype <type>", "output type of every tensor (float32, float16, bfloat16), overriding out_dtype")
    .option("--random-seed <n>", "seed of DARE's random drops (same seed, same merge)", "0")
    .option("--quiet", "no progress bar")
    .option("--json", "machine-readable result")
    .addHelpText(
      "after",
      "\nModel paths in the configuration are opened as given (relative to the current directory).\n" +
        "Example config:\n  merge_method: ties\n  base_model: ./base\n  models:\n    - model: ./math\n      parameters: {weight: 0.5, density: 0.5}\n" +
        "    - model: ./code\n      parameters: {weight: 0.5, density: 0.5}\n  dtype: bfloat16\n",
    )
    .action(async (configPath: string, out: string, opts: MergeFlags) => {
      const started = performance.now();
      const config = parseMergeConfig(await nodeFileSystem.readText(configPath), configPath);
      const result = await withOutputCleanup(out, () =>
        mergeModels(nodeFileSystem, config, out, {
          seed: integerOption(opts.randomSeed, "--random-seed", 0, 0xffffffff),
          outType: opts.dtype ? parseDtypeOption(opts.dtype, "--dtype") : undefined,
          maxShardSize: opts.outShardSize ? parseOutShardSize(opts.outShardSize, "--out-shard-size") : undefined,
          progress: progressFor(opts),
          configName: configPath,
        }),
      );
      const seconds = (performance.now() - started) / 1000;
      if (opts.json) printJson({ config: configPath, out, ...result, seconds });
      else if (!opts.quiet) process.stderr.write(`${result.method}: wrote ${result.tensors} tensors (${result.layers} layers) to ${result.files.join(", ")} in ${seconds.toFixed(2)} s\n`);
    });
}
