/** How far the WebAssembly kernels' GEMM may be from the exact product, by the arithmetic they do. */
import { GEMM_KC } from "../../src/kernels/wasm/gemm-module.js";

/**
 * Worst-case float32 error of the kernels' sum of k products whose absolute values sum to `abs`: a lane chain
 * of at most KC/4 multiply-adds per block, two lane additions, one addition per block (and one for
 * accumulating into C), each rounding by at most 2^-24.
 */
export function gemmErrorBound(k: number, abs: number, float64 = false): number {
  // float64 lanes: the products are exact and the sums nearly so; each k block's sum is rounded to float32 once.
  const roundings = float64 ? Math.ceil(k / GEMM_KC) + 2 : GEMM_KC / 4 + 4 + Math.ceil(k / GEMM_KC);
  return roundings * 2 ** -24 * abs + 1e-30;
}
