/**
 * A native GEMM the WebAssembly kernels hand their large products to, where the runtime has one (bitsmith/node's
 * AddonGemm, bitsmith's own addon, and OnnxGemm, onnxruntime's MLAS kernels: 256-bit FMA on x64, which
 * WebAssembly's 128-bit SIMD cannot reach). It works on the kernels' own memory; WasmKernels keeps everything
 * else (strided operands, small products, and float64 sums where the native GEMM has none).
 */
export interface NativeGemm {
  /** What runs, e.g. "onnxruntime mlas, 2 threads". */
  readonly description: string;
  /** Called once, before any product, with the memory every address refers to. */
  prepare(memory: WebAssembly.Memory): Promise<void>;
  /**
   * Whether this product is worth a native call (a call costs a round trip to other threads), and, with
   * `float64`, whether this GEMM sums in float64 (exact products of the float32 values) at all. `decoded`: B is
   * decoded from stored weights just for this product (which WebAssembly fuses with few rows of A).
   */
  accepts(m: number, n: number, k: number, float64: boolean, decoded: boolean): boolean;
  /**
   * C [m × n] (row stride ldc) = A · Bᵀ, or C += A · Bᵀ with `accumulate`, for A [m × k] and B [n × k] stored
   * contiguously; byte addresses in the memory; sums in float64 with `float64` (only when accepted so). Returns
   * when C is written. Each output element is computed the same way whatever the thread count.
   */
  gemmNT(m: number, n: number, k: number, a: number, b: number, c: number, ldc: number, accumulate: boolean, float64: boolean): void;
  close(): Promise<void>;
}
