/**
 * Quantization throughput and memory: a synthetic F16 GGUF of 8 tensors of 8192 x 8192 (1 GiB) quantized to
 * Q8_0, Q4_0 and Q4_K with 1 and 2 threads, each run in its own process (time and peak RSS of that run alone).
 * MB/s count F16 input bytes, as llama-quantize's speed is usually quoted. Q4_K's quantizer is much slower, so it
 * runs on the first tensor only (128 MiB); its MB/s are per input byte all the same.
 */
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import "../src/codecs/index.js";
import { SeededRandom, tensorType } from "../src/core/index.js";
import { requireCodec } from "../src/codecs/index.js";
import { GgufWriter, gguf } from "../src/formats/gguf/index.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { runMeasured } from "./child-runner.js";

const SIZE = 8192;

/** A llama-named F16 GGUF of `tensors` matrices of SIZE x SIZE (ffn_up: a tensor no recipe rule changes). */
async function writeF16Model(file: string, tensors: number): Promise<number> {
  // One matrix of N(0, 0.02)-like values (sum of uniforms), reused for every tensor: throughput does not depend on it.
  const rng = new SeededRandom(1);
  const values = new Float32Array(SIZE * SIZE);
  for (let i = 0; i < values.length; i++) values[i] = (rng.next() + rng.next() + rng.next() - 1.5) * 0.035;
  const bytes = requireCodec("F16").quantize(values, 1, values.length);
  const w = new GgufWriter();
  w.set("general.architecture", gguf.str("llama"));
  w.set("general.name", gguf.str("quantize-bench"));
  for (let t = 0; t < tensors; t++) w.addTensor({ name: `blk.${t}.ffn_up.weight`, type: tensorType("F16")!, shape: [SIZE, SIZE], data: async () => bytes });
  await w.write(await nodeFileSystem.create(file));
  return tensors * bytes.length;
}

export async function benchQuantize(): Promise<Record<string, number>> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-bench-quantize-"));
  try {
    const full = path.join(dir, "f16-8x8192x8192.gguf");
    const one = path.join(dir, "f16-1x8192x8192.gguf");
    const fullBytes = await writeF16Model(full, 8);
    const oneBytes = await writeF16Model(one, 1);
    const out: Record<string, number> = { quantize_input_mb: fullBytes / 1e6 };
    for (const [type, input, inputBytes] of [["Q8_0", full, fullBytes], ["Q4_0", full, fullBytes], ["Q4_K", one, oneBytes]] as const) {
      for (const threads of [1, 2]) {
        const dst = path.join(dir, `${type}.gguf`);
        const { seconds, maxRssBytes } = runMeasured("quantize", input, dst, type, String(threads));
        out[`quantize_${type}_${threads}t_mb_per_s`] = inputBytes / 1e6 / seconds;
        out[`quantize_${type}_${threads}t_peak_rss_mb`] = maxRssBytes / 1e6;
        await rm(dst, { force: true });
      }
    }
    return out;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
