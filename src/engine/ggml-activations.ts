/**
 * llama.cpp's CPU back end does not multiply float32 activations by a quantized weight matrix: it first
 * converts the activations to the weight type's "vec_dot_type" (ggml-cpu's type traits) and takes integer or
 * half-precision dot products. For Q8_0 and Q4_0 weights that rounding moves the perplexity of stories260K in
 * the third decimal, so matching llama.cpp means doing the same rounding.
 *
 * Each function here rounds activations to the values the dot product sees (e.g. Q8_0: fp16(d) · q with q an
 * int8), in float32; the matmul then multiplies them by the dequantized weights. With float64 accumulation
 * this equals llama.cpp's integer dot products up to its float32 summation order.
 *
 * Rounding follows the x86 AVX2 build the reference data came from: Q8_0/Q8_1 scale by 127/amax and round
 * half to even (_mm256_round_ps), Q8_K uses the reference quantize_row_q8_K. For Q8_1 the per-block sum term
 * llama.cpp stores in fp16 is not reproduced (it affects Q4_1/Q5_1 at the fp16 rounding of that sum).
 */
import type { TensorTypeInfo } from "../core/index.js";
import type { Accumulation } from "../kernels/kernels.js";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../numeric/half.js";
import { nearestInt } from "../numeric/float32-ops.js";

/** Rounds `count` activations (a multiple of the format's block) from x into out (may be x). */
export type ActivationRounding = (x: Float32Array, out: Float32Array, count: number) => void;

const fr = Math.fround;

/** Round half to even for values whose magnitude is below 2^22 (|x · 127/amax| ≤ 127 here). */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** ggml-cpu quantize_row_q8_0 (AVX2) and the q values of quantize_row_q8_1: blocks of 32, int8, fp16 scale. */
function roundQ8_0(x: Float32Array, out: Float32Array, count: number): void {
  for (let b = 0; b < count; b += 32) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b + j]!));
    const d = f16ToF32(f32ToF16(fr(amax / 127)));
    const id = amax !== 0 ? fr(127 / amax) : 0;
    for (let j = 0; j < 32; j++) out[b + j] = d * roundHalfEven(fr(x[b + j]! * id));
  }
}

/** quantize_row_q8_K_ref: blocks of 256, scale −max/127 from the signed value of largest magnitude, float32 scale. */
function roundQ8_K(x: Float32Array, out: Float32Array, count: number): void {
  for (let b = 0; b < count; b += 256) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < 256; j++) {
      const ax = Math.abs(x[b + j]!);
      if (ax > amax) {
        amax = ax;
        max = x[b + j]!;
      }
    }
    if (amax === 0) {
      out.fill(0, b, b + 256);
      continue;
    }
    const iscale = fr(-127 / max);
    const d = fr(1 / iscale);
    for (let j = 0; j < 256; j++) out[b + j] = fr(d * Math.min(127, nearestInt(fr(iscale * x[b + j]!))));
  }
}

/** Rounds to fp16 and back (round to nearest even), as ggml's fp32 → fp16 conversion. */
export function roundF16(x: Float32Array, out: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) out[i] = f16ToF32(f32ToF16(x[i]!));
}

function roundBf16(x: Float32Array, out: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) out[i] = bf16ToF32(f32ToBf16(x[i]!));
}

const Q8_0_DOT = new Set(["Q4_0", "Q5_0", "Q8_0", "IQ4_NL", "MXFP4"]);
const Q8_1_DOT = new Set(["Q4_1", "Q5_1"]);
const Q8_K_DOT = new Set(["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "IQ4_XS", "TQ1_0", "TQ2_0"]);

/**
 * The rounding llama.cpp applies to activations multiplied by weights of `type`, or undefined when it
 * multiplies float32 activations as they are (F32, and types whose CPU dot product is not reproduced here).
 */
export function ggmlActivationRounding(type: TensorTypeInfo): ActivationRounding | undefined {
  if (type.name === "F16") return roundF16;
  if (type.name === "BF16") return roundBf16;
  if (Q8_0_DOT.has(type.name) || Q8_1_DOT.has(type.name)) return roundQ8_0;
  if (Q8_K_DOT.has(type.name)) return roundQ8_K;
  return undefined;
}

/**
 * How the matmul should sum products for weights of `type` to stay as close to llama.cpp as its own arithmetic:
 * float64 where llama.cpp's dot products are exact integer sums within blocks (8-bit activations), float32
 * where they are float32 sums themselves (F32, F16, BF16).
 */
export function ggmlAccumulation(type: TensorTypeInfo): Accumulation {
  return Q8_0_DOT.has(type.name) || Q8_1_DOT.has(type.name) || Q8_K_DOT.has(type.name) ? "float64" : "float32";
}
