/**
 * `bitsmith eval <model> --text <file>`: perplexity (llama-perplexity's protocol, or the GPTQ/AWQ papers'),
 * optionally KL divergence against a base model run alongside (--kld-base) or saved earlier (--kld-logits),
 * and saving this model's distributions as a base file (--save-logits).
 */
import type { Command } from "commander";
import { BitsmithError } from "../../core/index.js";
import { BaseLogitsReader, BaseLogitsRecorder, LiveBaseKld, SavedBaseKld, evaluatePerplexity } from "../../eval/index.js";
import type { ChunkObserver, KldReport, PerplexityProtocol, PerplexityResult } from "../../eval/index.js";
import type { KvCacheType } from "../../engine/index.js";
import { nodeFileSystem } from "../../node/fs.js";
import { KERNELS_HELP, THREADS_HELP, kernelsFromFlags } from "../kernel-options.js";
import type { KernelFlags } from "../kernel-options.js";
import { printJson, progressFor } from "../common.js";
import { choiceOption, integerOption } from "../option-values.js";
import { openRunnableModel } from "../run-model.js";
import { readEvalText } from "../text-file.js";
import type { RunnableModel } from "../run-model.js";

interface EvalFlags extends KernelFlags {
  text: string;
  ctx: string;
  chunks?: string;
  protocol: string;
  kldBase?: string;
  kldLogits?: string;
  saveLogits?: string;
  allowLongCtx?: boolean;
  activations: string;
  kvCache: string;
  tokenizer?: string;
  json?: boolean;
  quiet?: boolean;
}

const pct = (v: number) => (100 * v).toFixed(3);

function kldLines(k: KldReport): string[] {
  const f6 = (v: number) => v.toFixed(6).padStart(10);
  return [
    "====== Perplexity statistics ======",
    `Mean PPL(Q)                   : ${f6(k.pplQ.value)} ± ${f6(k.pplQ.error)}`,
    `Mean PPL(base)                : ${f6(k.pplBase.value)} ± ${f6(k.pplBase.error)}`,
    `Cor(ln(PPL(Q)), ln(PPL(base))): ${(100 * k.lnPplCorrelation).toFixed(2)}%`,
    `Mean ln(PPL(Q)/PPL(base))     : ${f6(k.lnPplRatio.value)} ± ${f6(k.lnPplRatio.error)}`,
    `Mean PPL(Q)/PPL(base)         : ${f6(k.pplRatio.value)} ± ${f6(k.pplRatio.error)}`,
    `Mean PPL(Q)-PPL(base)         : ${f6(k.pplDiff.value)} ± ${f6(k.pplDiff.error)}`,
    "",
    "====== KL divergence statistics ======",
    `Mean    KLD: ${f6(k.kld.value)} ± ${f6(k.kld.error)}`,
    `Maximum KLD: ${f6(k.kld.max)}`,
    `99.9%   KLD: ${f6(k.kld.p99_9)}`,
    `99.0%   KLD: ${f6(k.kld.p99)}`,
    `95.0%   KLD: ${f6(k.kld.p95)}`,
    `90.0%   KLD: ${f6(k.kld.p90)}`,
    `Median  KLD: ${f6(k.kld.median)}`,
    `10.0%   KLD: ${f6(k.kld.p10)}`,
    ` 5.0%   KLD: ${f6(k.kld.p5)}`,
    ` 1.0%   KLD: ${f6(k.kld.p1)}`,
    ` 0.1%   KLD: ${f6(k.kld.p0_1)}`,
    `Minimum KLD: ${f6(k.kld.min)}`,
    "",
    "====== Token probability statistics ======",
    `Mean    Δp: ${pct(k.deltaP.value)} ± ${pct(k.deltaP.error)} %`,
    `Maximum Δp: ${pct(k.deltaP.max)}%`,
    `99.9%   Δp: ${pct(k.deltaP.p99_9)}%`,
    `99.0%   Δp: ${pct(k.deltaP.p99)}%`,
    `95.0%   Δp: ${pct(k.deltaP.p95)}%`,
    `90.0%   Δp: ${pct(k.deltaP.p90)}%`,
    `75.0%   Δp: ${pct(k.deltaP.p75)}%`,
    `Median  Δp: ${pct(k.deltaP.median)}%`,
    `25.0%   Δp: ${pct(k.deltaP.p25)}%`,
    `10.0%   Δp: ${pct(k.deltaP.p10)}%`,
    ` 5.0%   Δp: ${pct(k.deltaP.p5)}%`,
    ` 1.0%   Δp: ${pct(k.deltaP.p1)}%`,
    ` 0.1%   Δp: ${pct(k.deltaP.p0_1)}%`,
    `Minimum Δp: ${pct(k.deltaP.min)}%`,
    `RMS Δp    : ${pct(k.deltaP.rms.value)} ± ${pct(k.deltaP.rms.error)} %`,
    `Same top p: ${pct(k.sameTop.value)} ± ${pct(k.sameTop.error)} %`,
  ];
}

function printReport(model: string, textFile: string, tokens: number, r: PerplexityResult, kernels: string, kld: KldReport | undefined, saved: string | undefined): void {
  const lines = [
    `model:    ${model}`,
    `text:     ${textFile} (${tokens} tokens)`,
    `protocol: ${r.protocol}, ctx ${r.ctx}, ${r.chunks} chunks, ${r.count} scored tokens`,
    `speed:    ${(r.tokensEvaluated / r.seconds).toFixed(1)} tokens/s (${r.seconds.toFixed(2)} s; ${kernels})`,
    `Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplError.toFixed(5)}`,
  ];
  if (kld) lines.push("", ...kldLines(kld));
  if (saved) lines.push("", `saved base log-probabilities to ${saved}`);
  process.stdout.write(lines.join("\n") + "\n");
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("perplexity of a model on a text (llama-perplexity's protocol or GPTQ's), and KL divergence against a base model")
    .argument("<model>", "GGUF file, HF directory, .safetensors file, llama2.c checkpoint or @demo")
    .requiredOption("--text <file>", "evaluation text (UTF-8), e.g. wiki.test.raw")
    .option("--ctx <n>", "tokens per chunk", "512")
    .option("--chunks <n>", "evaluate at most n chunks")
    .option("--protocol <name>", "llama: chunks start with BOS, second half scored; gptq: plain windows, all scored", "llama")
    .option("--kld-base <model>", "KL divergence against this base model, run alongside")
    .option("--kld-logits <file>", "KL divergence against base log-probabilities saved with --save-logits")
    .option("--save-logits <file>", "save this model's next-token distributions as a base file for later --kld-logits")
    .option("--allow-long-ctx", "allow --ctx above the model's trained context length")
    .option("--activations <mode>", "ggml: round matmul inputs as llama.cpp does; float32: exact float32 activations", "ggml")
    .option("--kv-cache <type>", "f32 (exact) or f16 (llama.cpp's default cache, flash attention off)", "f32")
    .option("--tokenizer <file>", "llama2.c tokenizer file (default: tok*.bin beside the checkpoint)")
    .option("--threads <n>", THREADS_HELP)
    .option("--kernels <kind>", KERNELS_HELP, "auto")
    .option("--json", "machine-readable result")
    .option("--quiet", "no progress bar")
    .addHelpText(
      "after",
      "\nWith --protocol llama the numbers are comparable to llama-perplexity -c <ctx> (f32 KV cache, flash attention\n" +
        "off; use --kv-cache f16 to mimic its default cache). llama.cpp needs at least 2 x ctx tokens of text.\n\n" +
        "Examples:\n  bitsmith eval model-Q4_K_M.gguf --text wiki.test.raw\n" +
        "  bitsmith eval model-f16.gguf --text wiki.test.raw --save-logits base.bslp\n" +
        "  bitsmith eval model-Q4_K_M.gguf --text wiki.test.raw --kld-logits base.bslp",
    )
    .action(async (path: string, flags: EvalFlags) => {
      const ctx = integerOption(flags.ctx, "--ctx", 2);
      const maxChunks = flags.chunks === undefined ? undefined : integerOption(flags.chunks, "--chunks");
      const protocol = choiceOption<PerplexityProtocol>(flags.protocol, "--protocol", ["llama", "gptq"]);
      const activations = choiceOption(flags.activations, "--activations", ["ggml", "float32"] as const);
      const kvCacheType = choiceOption<KvCacheType>(flags.kvCache, "--kv-cache", ["f32", "f16"]);
      if (flags.kldBase && flags.kldLogits) throw new BitsmithError("give either --kld-base or --kld-logits, not both");
      const text = await readEvalText(flags.text);

      const opened: RunnableModel[] = [];
      const closers: (() => Promise<void>)[] = [];
      const kernels = await kernelsFromFlags(flags);
      closers.push(() => kernels.close());
      try {
        const main = await openRunnableModel(path, flags.tokenizer, { activations, kvCacheType, kernels });
        opened.push(main);
        const tokens = main.tokenizer.encode(text, { addSpecial: true, parseSpecial: false });
        const observers: ChunkObserver[] = [];
        let kld: LiveBaseKld | SavedBaseKld | undefined;
        if (flags.kldBase) {
          const base = await openRunnableModel(flags.kldBase, undefined, { activations, kvCacheType, kernels });
          opened.push(base);
          kld = new LiveBaseKld(base.engine);
        } else if (flags.kldLogits) {
          const reader = await BaseLogitsReader.open(await nodeFileSystem.open(flags.kldLogits));
          closers.push(() => reader.close());
          kld = new SavedBaseKld(reader);
        }
        if (kld) observers.push(kld);
        if (flags.saveLogits) observers.push(new BaseLogitsRecorder(await nodeFileSystem.create(flags.saveLogits), path));

        const result = await evaluatePerplexity(main.engine, tokens, {
          ctx,
          protocol,
          maxChunks,
          bosId: protocol === "llama" && main.tokenizer.addBos ? main.tokenizer.bosId : undefined,
          allowLongContext: flags.allowLongCtx,
          progress: progressFor(flags),
          observers,
        });
        const kldReport = kld?.kld.report();
        if (flags.json) {
          const { nll: _perToken, ...summary } = result;
          printJson({ model: path, text: flags.text, tokens: tokens.length, ...summary, tokensPerSecond: result.tokensEvaluated / result.seconds, kernels: kernels.description, kld: kldReport, savedLogits: flags.saveLogits });
        } else {
          printReport(path, flags.text, tokens.length, result, kernels.description, kldReport, flags.saveLogits);
        }
      } finally {
        for (const c of closers) await c();
        for (const m of opened) await m.source.close();
      }
    });
}
