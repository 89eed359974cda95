/**
 * Conversion cost on a synthetic Llama of about 0.7 GB (BF16 safetensors, HF layout): converting it to GGUF F16
 * must stream, so peak memory should stay near the largest tensor plus its float32 copy, not the model size.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { writeDemoModel } from "../src/demo/demo-source.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { runMeasured } from "./child-runner.js";

/** 8 layers of a 2048-wide Llama with GQA: about 0.36 G parameters, 0.73 GB in BF16. */
const DIMS = { hiddenSize: 2048, intermediateSize: 5632, numLayers: 8, numHeads: 16, numKvHeads: 4, contextLength: 4096 };

export async function benchConvert(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-bench-convert-"));
  try {
    const model = path.join(dir, "model");
    await writeDemoModel(nodeFileSystem, model, 1, DIMS);
    const inputBytes = (await stat(path.join(model, "model.safetensors"))).size;
    const out = path.join(dir, "model-f16.gguf");
    const { seconds, maxRssBytes } = runMeasured("convert", model, out, "f16");
    return {
      convert_input_mb: inputBytes / 1e6,
      convert_bf16_to_f16_gguf_mb_per_s: inputBytes / 1e6 / seconds,
      convert_peak_rss_mb: maxRssBytes / 1e6,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
