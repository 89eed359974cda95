/** `bitsmith generate <model> --prompt <text>`: continue a prompt, streaming the text to stdout. */
import type { Command } from "commander";
import { generateTokens } from "../../engine/index.js";
import { KERNELS_HELP, THREADS_HELP, kernelsFromFlags } from "../kernel-options.js";
import type { KernelFlags } from "../kernel-options.js";
import { printJson } from "../common.js";
import { choiceOption, integerOption, numberOption } from "../option-values.js";
import { openRunnableModel } from "../run-model.js";

interface GenerateFlags extends KernelFlags {
  prompt: string;
  n: string;
  temp: string;
  topP: string;
  seed: string;
  activations: string;
  tokenizer?: string;
  json?: boolean;
}

export function registerGenerate(program: Command): void {
  program
    .command("generate")
    .description("continue a prompt with a model (greedy at --temp 0, else nucleus sampling)")
    .argument("<model>", "GGUF file, HF directory, .safetensors file, llama2.c checkpoint or @demo")
    .requiredOption("--prompt <text>", "text to continue")
    .option("-n <n>", "tokens to generate", "64")
    .option("--temp <t>", "temperature; 0 = always the most probable token", "0")
    .option("--top-p <p>", "nucleus sampling mass", "0.95")
    .option("--seed <n>", "seed of the sampler", "0")
    .option("--activations <mode>", "ggml (as llama.cpp) or float32", "ggml")
    .option("--tokenizer <file>", "llama2.c tokenizer file (default: tok*.bin beside the checkpoint)")
    .option("--threads <n>", THREADS_HELP)
    .option("--kernels <kind>", KERNELS_HELP, "auto")
    .option("--json", "print the result as JSON instead of streaming")
    .addHelpText("after", '\nExample:\n  bitsmith generate stories260K.gguf --prompt "Once upon a time" -n 48')
    .action(async (path: string, flags: GenerateFlags) => {
      const maxTokens = integerOption(flags.n, "-n", 1);
      const temperature = numberOption(flags.temp, "--temp", 0);
      const topP = numberOption(flags.topP, "--top-p", Number.MIN_VALUE, 1);
      const seed = integerOption(flags.seed, "--seed", 0, 0xffffffff);
      const activations = choiceOption(flags.activations, "--activations", ["ggml", "float32"] as const);
      const kernels = await kernelsFromFlags(flags);
      const opened = await openRunnableModel(path, flags.tokenizer, { activations, kernels }).catch(async (e) => {
        await kernels.close();
        throw e;
      });
      const { source, engine, tokenizer } = opened;
      try {
        const prompt = tokenizer.encode(flags.prompt, { addSpecial: true, parseSpecial: false });
        const generated: number[] = [];
        let printed = "";
        const started = performance.now();
        await generateTokens(engine, prompt, {
          maxTokens,
          temperature,
          topP,
          seed,
          isEnd: (id) => tokenizer.isEog(id),
          onToken: (id) => {
            generated.push(id);
            if (flags.json) return;
            // Decode the whole continuation each time: a character may span several byte tokens.
            const text = tokenizer.decode(generated, { unparseSpecial: false });
            if (text.startsWith(printed) && !text.endsWith("\uFFFD")) {
              process.stdout.write(text.slice(printed.length));
              printed = text;
            }
          },
        });
        const seconds = (performance.now() - started) / 1000;
        const text = tokenizer.decode(generated, { unparseSpecial: false });
        if (flags.json) {
          printJson({ model: path, prompt: flags.prompt, promptTokens: prompt, tokens: generated, text, seconds, tokensPerSecond: generated.length / seconds });
        } else {
          if (text.startsWith(printed)) process.stdout.write(text.slice(printed.length));
          process.stdout.write("\n");
        }
      } finally {
        await source.close();
        await kernels.close();
      }
    });
}
