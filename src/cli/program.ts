/**
 * The `bitsmith` command tree. Each command lives in its own module under commands/ and is a thin shell over
 * the library: parse flags, open inputs, call the library, print.
 */
import { Command } from "commander";
import { registerInspect } from "./commands/inspect.js";
import { registerConvert } from "./commands/convert.js";
import { registerDemo } from "./commands/demo.js";
import { registerEval } from "./commands/eval.js";
import { registerGenerate } from "./commands/generate.js";
import { registerQuantize } from "./commands/quantize.js";
import { registerImatrix } from "./commands/imatrix.js";
import { registerMerge } from "./commands/merge.js";
import { registerDiff } from "./commands/diff.js";
import { registerApply } from "./commands/apply.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("bitsmith")
    .description("Compress LLM weights: convert, inspect and quantize checkpoints (GGUF, safetensors, llama2.c)")
    .version("0.1.0")
    .showHelpAfterError()
    .addHelpText(
      "after",
      "\nModels: a GGUF file, a Hugging Face directory (config.json + safetensors), a .safetensors file, a llama2.c\n" +
        "checkpoint (.bin, with tok*.bin beside it or --tokenizer), or @demo (bitsmith's built-in synthetic model).",
    );
  registerInspect(program);
  registerConvert(program);
  registerDemo(program);
  registerEval(program);
  registerGenerate(program);
  registerQuantize(program);
  registerImatrix(program);
  registerMerge(program);
  registerDiff(program);
  registerApply(program);
  return program;
}

