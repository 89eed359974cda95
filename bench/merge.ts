/**
 * Merge cost on three synthetic Llamas of about 1.1 GB each (BF16 safetensors, HF layout, seeds 1-3): each
 * method runs in its own process (measured-child.ts), streaming one tensor of each input at a time, so peak
 * memory should follow the largest tensor times the inputs, not the models' size. Throughput counts the bytes
 * of the three inputs.
 */
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { writeDemoModel } from "../src/demo/demo-source.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { runMeasured } from "./child-runner.js";

/** 12 layers of a 2048-wide Llama with GQA: about 0.54 G parameters, 1.08 GB in BF16. */
const DIMS = { hiddenSize: 2048, intermediateSize: 5632, numLayers: 12, numHeads: 16, numKvHeads: 4, contextLength: 4096 };

function config(method: string, models: string[]): string {
  const [base, ...others] = models;
  switch (method) {
    case "linear":
      return `merge_method: linear\nmodels:\n${models.map((m) => `  - model: ${m}\n    parameters: {weight: 1}\n`).join("")}`;
    default:
      return `merge_method: ${method}\nbase_model: ${base}\nmodels:\n${others.map((m) => `  - model: ${m}\n    parameters: {weight: 0.5, density: 0.5}\n`).join("")}`;
  }
}

export async function benchMerge(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-bench-merge-"));
  try {
    const models = [1, 2, 3].map((seed) => path.join(dir, `model-${seed}`));
    for (const [i, m] of models.entries()) await writeDemoModel(nodeFileSystem, m, i + 1, DIMS);
    let inputBytes = 0;
    for (const m of models) inputBytes += (await stat(path.join(m, "model.safetensors"))).size;
    const results: Record<string, number> = { merge_input_mb: inputBytes / 1e6 };
    for (const method of ["linear", "ties", "dare_ties"]) {
      const file = path.join(dir, `${method}.yaml`);
      await writeFile(file, config(method, models));
      const out = path.join(dir, `merged-${method}`);
      const { seconds, maxRssBytes } = runMeasured("merge", file, out);
      results[`merge_${method}_mb_per_s`] = inputBytes / 1e6 / seconds;
      results[`merge_${method}_peak_rss_mb`] = maxRssBytes / 1e6;
      await rm(out, { recursive: true, force: true });
    }
    return results;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
