/**
 * Calibration-based quantization timings (seconds), on the Node kernels over all cores:
 *  - one synthetic 4096 × 4096 linear layer with 128 × 512 calibration tokens (inputs with correlated and
 *    outlier channels, generated in chunks): the Hessian (2·XᵀX/n over 65536 tokens), GPTQ (4-bit, groups of
 *    128, symmetric) and AWQ (statistics, the 20-point α search with the layer's own output error from XᵀX,
 *    clipping on 512 sampled tokens, rounding);
 *  - the whole of stories260K (the reference GGUF) with 64 windows of 128 tokens of ts-head20k: RTN, GPTQ, AWQ
 *    and outlier (1% fp16) at 4 and 3 bits with asymmetric groups of 32 (ffn_down's 172-wide rows one group per
 *    row), and RTN/GPTQ/AWQ with ggml Q4_0 rounding (ffn_down in F16): seconds, bits per weight over the block
 *    linears, and held-out perplexity (GPTQ's protocol, 400 windows of 128 tokens of tinystories-niklas6 after
 *    its first 20465 bytes, which are ts-head20k).
 * The layer runs on the WebAssembly kernels ("layer4096_" keys) and on the native paths where present
 * ("layer4096_native_": bitsmith's addon, "layer4096_onnxruntime_": onnxruntime-node; its float32 products, the
 * Hessian and AWQ's search, go native).
 * Run directly: node dist/bench/methods.js
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { SeededRandom } from "../src/core/index.js";
import type { ModelSource } from "../src/core/index.js";
import { LlamaEngine } from "../src/engine/index.js";
import { evaluatePerplexity } from "../src/eval/index.js";
import "../src/codecs/index.js";
import { ChannelStats, HessianAccumulator, calibrationTokens, parseCalibrationFile, sampleCalibrationWindows } from "../src/calibrate/index.js";
import { AWQ_CLIP_TOKENS, clipWeights, codecFormat, gptqQuantize, layerOutputError, quantizeBlocks, quantizedModelSource, rtnQuantize, searchAwqScales } from "../src/methods/index.js";
import type { CalibratedMethod, WeightFormat } from "../src/methods/index.js";
import { openGgufModel } from "../src/formats/gguf/index.js";
import type { Kernels } from "../src/kernels/index.js";
import { createNodeKernels, nativeBackends } from "../src/node/kernels.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { createModelTokenizer } from "../src/tokenizer/index.js";

const REFERENCE = process.env.BITSMITH_SHARED_DATA ? path.join(process.env.BITSMITH_SHARED_DATA, "reference") : path.resolve("../shared/data/reference");

const seconds = (t0: number) => Number(((performance.now() - t0) / 1000).toFixed(2));

async function benchLayer(kernels: Kernels, out: Record<string, number>, label = "layer4096"): Promise<void> {
  const rows = 4096;
  const cols = 4096;
  const chunk = 512;
  const chunks = 128;
  const rng = new SeededRandom(11);
  const w = Float32Array.from({ length: rows * cols }, (_, i) => rng.normal() * 0.02 * (i % cols < 8 ? 4 : 1));
  // Inputs: per-channel magnitudes (a few outlier channels) over independent noise plus a shared rank-8 part.
  const magnitude = Float32Array.from({ length: cols }, (_, c) => (c % 512 === 7 ? 20 : 0.5 + rng.next()));
  const basis = Float32Array.from({ length: 8 * cols }, () => rng.normal() * 0.5);
  const x = new Float32Array(chunk * cols);
  const hessian = new HessianAccumulator(cols, kernels);
  const stats = new ChannelStats(cols);
  const step = (chunks * chunk) / AWQ_CLIP_TOKENS;
  const sample = new Float32Array(AWQ_CLIP_TOKENS * cols);
  let generate = 0;
  let accumulate = 0;
  for (let k = 0; k < chunks; k++) {
    let t0 = performance.now();
    for (let t = 0; t < chunk; t++) {
      const a = Array.from({ length: 8 }, () => rng.normal());
      for (let c = 0; c < cols; c++) {
        let v = rng.normal();
        for (let j = 0; j < 8; j++) v += a[j]! * basis[j * cols + c]!;
        x[t * cols + c] = v * magnitude[c]!;
      }
      const token = k * chunk + t;
      if (token % step === 0) sample.set(x.subarray(t * cols, (t + 1) * cols), (token / step) * cols);
    }
    generate += performance.now() - t0;
    t0 = performance.now();
    hessian.add(x, chunk);
    stats.add(x, chunk);
    accumulate += performance.now() - t0;
  }
  out[`${label}_tokens`] = chunks * chunk;
  out[`${label}_hessian_s`] = Number((accumulate / 1000).toFixed(2));
  out[`${label}_generate_inputs_s`] = Number((generate / 1000).toFixed(2));
  const h = hessian.hessian();

  const format: WeightFormat = { kind: "integer", scheme: { bits: 4, groupSize: 128, symmetric: true } };
  let t0 = performance.now();
  gptqQuantize("layer", w, rows, cols, h, { format, kernels });
  out[`${label}_gptq_s`] = seconds(t0);

  t0 = performance.now();
  const layer = { name: "layer", w: w.slice(), rows, cols };
  const { scales } = await searchAwqScales({
    layers: [layer],
    cols,
    xMean: stats.meanAbs(),
    format,
    loss: layerOutputError(layer, h, kernels),
  });
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) layer.w[r * cols + c] = layer.w[r * cols + c]! * scales[c]!;
  for (let i = 0; i < sample.length; i++) sample[i] = sample[i]! / scales[i % cols]!;
  clipWeights(layer, cols, sample, AWQ_CLIP_TOKENS, format);
  rtnQuantize("layer", layer.w, rows, cols, format);
  out[`${label}_awq_s`] = seconds(t0);
}

/** Perplexity on held-out text: the rest of tinystories-niklas6 after ts-head20k (its first 20465 bytes). */
async function heldOutPerplexity(model: ModelSource, tokens: number[], kernels: Kernels): Promise<number> {
  const engine = await LlamaEngine.create(model, { activations: "float32", kernels });
  return Number((await evaluatePerplexity(engine, tokens, { ctx: 128, protocol: "gptq", maxChunks: 400 })).ppl.toFixed(4));
}

async function benchStories(kernels: Kernels, out: Record<string, number>): Promise<void> {
  const model = await openGgufModel(nodeFileSystem, path.join(REFERENCE, "models", "stories260K-f32.gguf"));
  try {
    const tokenizer = createModelTokenizer(model.info);
    const text = readFileSync(path.join(REFERENCE, "text", "ts-head20k.txt"), "utf8");
    const tokens = calibrationTokens(parseCalibrationFile(text, "ts-head20k.txt"), tokenizer, undefined, "ts-head20k.txt");
    const calibration = sampleCalibrationWindows(tokens, { samples: 64, seqLen: 128, seed: 0 }, "ts-head20k.txt");
    const heldOut = tokenizer.encode(readFileSync(path.join(REFERENCE, "text", "tinystories-niklas6.txt"), "utf8").slice(text.length), { addSpecial: true });
    out.stories260K_fp32_ppl = await heldOutPerplexity(model, heldOut, kernels);
    const formats: [string, WeightFormat][] = [
      ["int4g32", { kind: "integer", scheme: { bits: 4, groupSize: 32, symmetric: false } }],
      ["int3g32", { kind: "integer", scheme: { bits: 3, groupSize: 32, symmetric: false } }],
      ["Q4_0", codecFormat("Q4_0")],
    ];
    for (const [label, format] of formats) {
      for (const method of ["rtn", "gptq", "awq", "outlier"] as CalibratedMethod[]) {
        if (method === "outlier" && format.kind === "codec") continue;
        const t0 = performance.now();
        const run = await quantizeBlocks(model, { method, format, calibration, unfitLayers: "fallback", kernels });
        const key = `stories260K_${label}_${method}`;
        out[`${key}_s`] = seconds(t0);
        out[`${key}_bpw`] = Number(run.bitsPerWeight.toFixed(3));
        out[`${key}_ppl`] = await heldOutPerplexity(quantizedModelSource(run), heldOut, kernels);
      }
    }
  } finally {
    await model.close();
  }
}

export async function benchMethods(): Promise<Record<string, number>> {
  const kernels = await createNodeKernels({ kind: "wasm" });
  const out: Record<string, number> = { threads: kernels.threads };
  try {
    await benchStories(kernels, out);
    await benchLayer(kernels, out);
  } finally {
    await kernels.close();
  }
  for (const kind of nativeBackends()) {
    const native = await createNodeKernels({ kind });
    try {
      await benchLayer(native, out, `layer4096_${kind}`);
    } finally {
      await native.close();
    }
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify(await benchMethods(), null, 2) + "\n");
