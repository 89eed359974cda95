/**
 * llama.cpp's CPU back end does not multiply float32 activations by a quantized weight matrix: it first
 * converts the activations to the weight type's "vec_dot_type" (ggml-cpu's type traits) and takes integer or
 * half-precision dot products. For Q8_0 and Q4_0 weights that rounding moves the perplexity of stories260K in
 * the third decimal, so matching llama.cpp means doing the same rounding.
 *
 * The rounding (Kernels.roundActivations, reference in kernels/activation-rounding.ts) gives the values the dot
 * product sees (e.g. Q8_0: fp16(d) · q with q an int8), in float32; the matmul then multiplies them by the
 * dequantized weights. With float64 accumulation this equals llama.cpp's integer dot products up to its
 * float32 summation order. For Q8_1 the per-block sum term llama.cpp stores in fp16 is not reproduced (it
 * affects Q4_1/Q5_1 at the fp16 rounding of that sum).
 */
import type { TensorTypeInfo } from "../core/index.js";
import type { ActivationFormat } from "../kernels/activation-rounding.js";
import type { Accumulation } from "../kernels/kernels.js";

const Q8_0_DOT = new Set(["Q4_0", "Q5_0", "Q8_0", "IQ4_NL", "MXFP4"]);
const Q8_1_DOT = new Set(["Q4_1", "Q5_1"]);
const Q8_K_DOT = new Set(["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M", "IQ4_XS", "TQ1_0", "TQ2_0"]);

/**
 * The format llama.cpp rounds activations to before multiplying them by weights of `type` (Q8_1's q values are
 * Q8_0's), or undefined when it multiplies float32 activations as they are (F32, and types whose CPU dot
 * product is not reproduced here).
 */
export function ggmlActivationFormat(type: TensorTypeInfo): ActivationFormat | undefined {
  if (type.name === "F16" || type.name === "BF16") return type.name;
  if (Q8_0_DOT.has(type.name) || Q8_1_DOT.has(type.name)) return "Q8_0";
  if (Q8_K_DOT.has(type.name)) return "Q8_K";
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
