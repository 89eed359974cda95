/**
 * The scalar reference of llama.cpp's activation rounding: the values its CPU dot products see after converting
 * float32 activations to a weight type's "vec_dot_type" (see engine/ggml-activations.ts for which type uses
 * which), in float32. Kernels.roundActivations runs these; the WebAssembly version is tested against them.
 *
 * Rounding follows the x86 AVX2 build the reference data came from: Q8_0 (also the q values of Q8_1) scales
 * by 127/amax and rounds half to even (_mm256_round_ps), Q8_K is the reference quantize_row_q8_K, F16 and BF16
 * are ggml's fp32 → fp16/bf16 conversions (nearest even).
 */
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from "../numeric/half.js";
import { nearestInt } from "../numeric/float32-ops.js";

/** A vec_dot_type llama.cpp rounds activations to, by its ggml type name. */
export type ActivationFormat = "Q8_0" | "Q8_K" | "F16" | "BF16";

/** Values per block of a format (counts passed to the rounding must be multiples of it). */
export const ACTIVATION_BLOCK: Record<ActivationFormat, number> = { Q8_0: 32, Q8_K: 256, F16: 1, BF16: 1 };

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

const ROUNDERS: Record<ActivationFormat, (x: Float32Array, out: Float32Array, count: number) => void> = {
  Q8_0: roundQ8_0,
  Q8_K: roundQ8_K,
  F16: roundF16,
  BF16: roundBf16,
};

/** Rounds `count` activations (a multiple of the format's block) from x into out (may be x). */
export function roundActivationsReference(format: ActivationFormat, x: Float32Array, out: Float32Array, count: number): void {
  ROUNDERS[format](x, out, count);
}
