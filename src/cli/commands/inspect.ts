/** `bitsmith inspect <model>`: architecture, tokenizer, tensor table, totals and metadata. */
import type { Command } from "commander";
import { summarizeModel } from "../../inspect/summary.js";
import type { ModelSummary } from "../../inspect/summary.js";
import { formatBytes, printJson, withModel } from "../common.js";

function printSummary(s: ModelSummary, showMetadata: boolean): void {
  const out: string[] = [];
  out.push(`file:          ${s.file}`);
  out.push(`format:        ${s.format}`);
  out.push(`architecture:  ${s.architecture}${s.sourceArchitecture && s.sourceArchitecture !== s.architecture ? ` (${s.sourceArchitecture})` : ""}`);
  if (s.name) out.push(`name:          ${s.name}`);
  if (s.hparams) {
    out.push("hyperparameters:");
    for (const [k, v] of Object.entries(s.hparams)) if (v !== undefined) out.push(`  ${k.padEnd(18)} ${typeof v === "object" ? JSON.stringify(v) : v}`);
  }
  if (s.tokenizer) {
    const t = s.tokenizer;
    out.push(
      `tokenizer:     ${t.model}${t.pre ? ` (pre: ${t.pre})` : ""}, ${t.vocabSize} tokens` +
        `${t.merges !== undefined ? `, ${t.merges} merges` : ""}, bos ${JSON.stringify(t.bos)}, eos ${JSON.stringify(t.eos)}` +
        `${t.chatTemplate ? ", chat template" : ""}`,
    );
  } else {
    out.push("tokenizer:     none");
  }
  const nameWidth = Math.max(4, ...s.tensors.map((t) => t.name.length));
  out.push("");
  out.push(`${"name".padEnd(nameWidth)}  ${"shape".padEnd(16)} ${"type".padEnd(8)} ${"bytes".padStart(12)}  bpw`);
  for (const t of s.tensors) {
    out.push(`${t.name.padEnd(nameWidth)}  ${JSON.stringify(t.shape).padEnd(16)} ${t.type.padEnd(8)} ${String(t.bytes).padStart(12)}  ${t.bitsPerWeight.toFixed(2)}`);
  }
  const tt = s.totals;
  out.push("");
  out.push(
    `total: ${tt.tensors} tensors, ${tt.parameters.toLocaleString("en-US")} parameters, ${formatBytes(tt.bytes)}, ` +
      `${tt.bitsPerWeight.toFixed(2)} bits per weight; types: ${Object.entries(tt.byType).map(([k, v]) => `${v} x ${k}`).join(", ")}`,
  );
  if (showMetadata) {
    out.push("", "metadata:");
    for (const [k, v] of Object.entries(s.metadata)) out.push(`  ${k} = ${typeof v === "string" ? v : JSON.stringify(v)}`);
  }
  process.stdout.write(out.join("\n") + "\n");
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show a model's architecture, tokenizer, tensors (name, shape, type, bytes, bits per weight) and metadata")
    .argument("<model>", "GGUF file, HF directory, .safetensors file, llama2.c checkpoint or @demo")
    .option("--tokenizer <file>", "llama2.c tokenizer file (default: tok*.bin beside the checkpoint)")
    .option("--no-metadata", "leave out the raw metadata")
    .option("--json", "machine-readable output")
    .addHelpText("after", "\nShapes are outermost first (PyTorch order); GGUF's ne lists them in reverse.\n\nExample:\n  bitsmith inspect model.gguf\n  bitsmith inspect ./Llama-3.2-1B --json")
    .action(async (path: string, opts: { tokenizer?: string; metadata: boolean; json?: boolean }) => {
      await withModel(path, opts.tokenizer, async (model) => {
        const summary = summarizeModel(model);
        if (opts.json) printJson(summary);
        else printSummary(summary, opts.metadata);
      });
    });
}
