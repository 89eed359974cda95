/**
 * A native float32 GEMM the WebAssembly kernels hand their large products to, where the runtime has one
 * (bitsmith/node's OnnxGemm: onnxruntime's MLAS kernels, 256-bit FMA on x64, which WebAssembly's 128-bit SIMD
 * cannot reach). It works on the kernels' own shared memory, so operands are not copied; WasmKernels keeps
 * everything else (float64 accumulation, strided operands, small products).
 */
export interface NativeGemm {
  /** What runs, e.g. "onnxruntime mlas, 2 threads". */
  readonly description: string;
  /** Called once, before any product, with the memory every address refers to. */
  prepare(memory: WebAssembly.Memory): Promise<void>;
  /** Whether this product is worth a native call (a call costs a round trip to other threads). */
  accepts(m: number, n: number, k: number): boolean;
  /**
   * C [m × n] (row stride ldc) = A · Bᵀ, or C += A · Bᵀ with `accumulate`, for A [m × k] and B [n × k] stored
   * contiguously; byte addresses in the memory. Returns when C is written. Each output element is computed the
   * same way whatever the thread count.
   */
  gemmNT(m: number, n: number, k: number, a: number, b: number, c: number, ldc: number, accumulate: boolean): void;
  close(): Promise<void>;
}
