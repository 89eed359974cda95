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

/** C = A·Bᵀ in float64, and Σ|a·b| per element for the error bound. */
export function float64Product(m: number, n: number, k: number, a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number) {
  const c = new Float64Array(m * n);
  const abs = new Float64Array(m * n);
  for (let r = 0; r < m; r++) {
    for (let o = 0; o < n; o++) {
      let s = 0;
      let t = 0;
      for (let i = 0; i < k; i++) {
        const p = a[aOff + r * lda + i]! * b[bOff + o * ldb + i]!;
        s += p;
        t += Math.abs(p);
      }
      c[r * n + o] = s;
      abs[r * n + o] = t;
    }
  }
  return { c, abs };
}
