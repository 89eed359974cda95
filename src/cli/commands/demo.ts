/** `bitsmith demo <dir>`: writes the built-in synthetic demo checkpoint as a Hugging Face directory. */
import type { Command } from "commander";
import { writeDemoModel } from "../../demo/demo-source.js";
import { nodeFileSystem } from "../../node/fs.js";
import { printJson } from "../common.js";
import type { OutputOptions } from "../common.js";
import { integerOption } from "../option-values.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("write bitsmith's built-in demo model (SYNTHETIC random-weight Llama, HF layout) to a directory")
    .argument("<dir>", "output directory")
    .option("--seed <n>", "seed of the random weights", "1")
    .option("--json", "print what was written as JSON")
    .option("--quiet", "print nothing")
    .addHelpText("after", "\nEvery command also accepts @demo in place of a model path, without writing anything.\n\nExample:\n  bitsmith demo ./demo-model && bitsmith inspect ./demo-model")
    .action(async (dir: string, opts: OutputOptions & { seed: string }) => {
      const seed = integerOption(opts.seed, "--seed", 0, 0xffffffff);
      const files = await writeDemoModel(nodeFileSystem, dir, seed);
      if (opts.json) printJson({ dir, seed, files: files.sort() });
      else if (!opts.quiet) process.stderr.write(`wrote the synthetic demo model to ${dir}\n`);
    });
}
