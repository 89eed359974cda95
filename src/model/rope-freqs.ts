/**
 * Llama 3's rope scaling as llama.cpp stores it: not as metadata but as a tensor `rope_freqs.weight` of one
 * factor per rotary frequency, which convert_hf_to_gguf.py computes from config.json's rope_scaling (type
 * "llama3"). The arithmetic follows that script's float32 torch operations step by step.
 */
import { tensorType } from "../core/index.js";
import type { LlamaHParams, TensorRef } from "../core/index.js";

const f = Math.fround;

/** The per-frequency divisors of Llama 3 rope scaling (length headDim / 2). */
export function llama3RopeFactors(h: LlamaHParams): Float32Array {
  const rs = h.ropeScaling!;
  const dim = h.headDim;
  const factor = rs.factor;
  const low = rs.lowFreqFactor ?? 1;
  const high = rs.highFreqFactor ?? 4;
  const oldContext = rs.originalContextLength ?? 8192;
  const lowFreqWavelen = oldContext / low;
  const highFreqWavelen = oldContext / high;
  const out = new Float32Array(dim / 2);
  for (let i = 0; i < dim / 2; i++) {
    const freq = f(1 / f(Math.pow(h.ropeTheta, f(f(2 * i) / dim))));
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < highFreqWavelen) out[i] = 1;
    else if (wavelen > lowFreqWavelen) out[i] = factor;
    else {
      const smooth = f(f(f(oldContext / wavelen) - low) / (high - low));
      out[i] = f(1 / f(f(f(1 - smooth) / factor) + smooth));
    }
  }
  return out;
}

/** The `rope_freqs.weight` tensor for a model with llama3 rope scaling, or undefined for any other model. */
export function ropeFreqsTensor(h: LlamaHParams): TensorRef | undefined {
  if (h.ropeScaling?.type !== "llama3") return undefined;
  const bytes = new Uint8Array(llama3RopeFactors(h).buffer);
  return {
    name: "rope_freqs.weight",
    type: tensorType("F32")!,
    shape: [h.headDim / 2],
    byteLength: bytes.length,
    async read(offset = 0, length = bytes.length - offset) {
      return bytes.subarray(offset, offset + length);
    },
  };
}
