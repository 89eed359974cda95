/** `bitsmith demo <dir>`: writes the built-in synthetic demo checkpoint as a Hugging Face directory. */
import type { Command } from "commander";
import { writeDemoModel } from "../../demo/demo-source.js";
import { nodeFileSystem } from "../../node/fs.js";

export function registerDemo(program: Command): void {
  program
    .command("demo")
    .description("write bitsmith's built-in demo model (SYNTHETIC random-weight Llama, HF layout) to a directory")
    .argument("<dir>", "output directory")
    .option("--seed <n>", "seed of the random weights", "1")
    .addHelpText("after", "\nEvery command also accepts @demo in place of a model path, without writing anything.\n\nExample:\n  bitsmith demo ./demo-model && bitsmith inspect ./demo-model")
    .action(async (dir: string, opts: { seed: string }) => {
      await writeDemoModel(nodeFileSystem, dir, Number(opts.seed));
      process.stderr.write(`wrote the synthetic demo model to ${dir}\n`);
    });
}
