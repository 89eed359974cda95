/**
 * Rotary position embedding as llama.cpp computes it (ggml_rope_ext without YaRN extrapolation).
 *
 * Two pairings of a head's dimensions:
 *  - "norm" (LLAMA_ROPE_TYPE_NORM, GGUF arch llama): adjacent pairs (x[2i], x[2i+1]). HF Llama checkpoints use
 *    the half-split pairing; llama.cpp's converter permutes the Q/K rows so the adjacent form applies.
 *  - "neox" (LLAMA_ROPE_TYPE_NEOX, qwen2): pairs (x[i], x[i + d/2]), as stored by HF.
 * Pair i rotates by angle pos · freqScale · base^(-2i/d) / factor[i]: the per-pair factors are llama 3's
 * scaling (the GGUF `rope_freqs.weight` tensor, or computed from HF's rope_scaling), freqScale = 1/factor is
 * linear scaling. Angles follow ggml: base^(-2/d) in float32, raised by repeated float multiplication.
 */
import { BitsmithError } from "../core/index.js";
import { defaultKernels } from "../kernels/index.js";
import type { Kernels } from "../kernels/index.js";
import type { RopeStyle } from "../kernels/vector-ops.js";

export type { RopeStyle } from "../kernels/vector-ops.js";

export interface RopeConfig {
  style: RopeStyle;
  /** Rotated dimensions per head (the head size for the Llama family). */
  dims: number;
  base: number;
  /** 1 / linear scaling factor. */
  freqScale: number;
  /** Per-pair divisors of the angle (llama 3), length dims/2. */
  factors?: Float32Array;
}

/** The rope pairing llama.cpp uses for a GGUF architecture of the Llama family. */
export function ropeStyleOf(architecture: string): RopeStyle {
  switch (architecture) {
    case "llama":
    case "mistral":
      return "norm";
    case "qwen2":
      return "neox";
    default:
      throw new BitsmithError(`architecture "${architecture}" is not supported by the engine (llama, mistral, qwen2)`, { field: "general.architecture" });
  }
}

/** cos/sin of every pair's angle for each of `positions`: [positions.length × dims/2] each. */
export interface RopeAngles {
  cos: Float32Array;
  sin: Float32Array;
}

/** `allocate` gives the two arrays (e.g. in the kernels' memory; default plain arrays). */
export function ropeAngles(config: RopeConfig, positions: ArrayLike<number>, allocate: (n: number) => Float32Array = (n) => new Float32Array(n)): RopeAngles {
  const half = config.dims / 2;
  const cos = allocate(positions.length * half);
  const sin = allocate(positions.length * half);
  const thetaScale = Math.fround(Math.pow(config.base, -2 / config.dims));
  for (let p = 0; p < positions.length; p++) {
    let theta = Math.fround(positions[p]!);
    for (let i = 0; i < half; i++) {
      const ff = config.factors ? config.factors[i]! : 1;
      const angle = Math.fround(config.freqScale * Math.fround(theta / ff));
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
      theta = Math.fround(theta * thetaScale);
    }
  }
  return { cos, sin };
}

/**
 * Rotates `heads` heads of size `headDim` in each of `rows` rows of x (row stride `stride`, row r at
 * angles row r), in place, with `kernels` (vector-ops.ts's ropeRows is the arithmetic).
 */
export function applyRope(config: RopeConfig, angles: RopeAngles, x: Float32Array, rows: number, stride: number, heads: number, headDim: number, kernels: Kernels = defaultKernels()): void {
  kernels.rope(x, rows, stride, { style: config.style, count: heads, size: headDim, dims: config.dims }, angles.cos, angles.sin);
}
