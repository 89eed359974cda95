/** The kernel layer: matrix products and friends for the engine and the methods (see kernels.ts). */
import { ReferenceKernels } from "./kernels.js";
import type { Kernels } from "./kernels.js";
import type { KernelExecutor } from "./kernel-executor.js";
import { WasmKernels } from "./wasm-kernels.js";
import { detectWasmSimd } from "./wasm/simd-support.js";

export { ReferenceKernels } from "./kernels.js";
export type { Accumulation, GemmOptions, Kernels, WeightMatrix } from "./kernels.js";
export type { NativeGemm } from "./native-gemm.js";
export { WasmKernels } from "./wasm-kernels.js";
export type { WasmKernelsOptions } from "./wasm-kernels.js";
export type { KernelExecutor, KernelSetup, RunningTasks } from "./kernel-executor.js";
export type { KernelTask } from "./kernel-tasks.js";
export { detectWasmSimd } from "./wasm/simd-support.js";
export { gemmNT } from "./matmul.js";

export type KernelKind = "auto" | "wasm" | "reference";

export interface KernelOptions {
  /** "auto" (default): WebAssembly SIMD where the runtime has it, else the JavaScript reference. */
  kind?: KernelKind;
  /** Worker threads for the WebAssembly kernels (bitsmith/node's createNodeKernels makes one). */
  executor?: KernelExecutor;
  /** Relaxed-SIMD fused multiply-add: "auto" (default) when the runtime has it. */
  relaxed?: boolean | "auto";
}

export async function createKernels(options: KernelOptions = {}): Promise<Kernels> {
  const kind = options.kind ?? "auto";
  if (kind === "reference" || (kind === "auto" && !detectWasmSimd().simd)) return new ReferenceKernels();
  return WasmKernels.create({ executor: options.executor, relaxed: options.relaxed });
}

let shared: Kernels | undefined;

/**
 * One single-threaded set of kernels for the process (or page), created on first use: WebAssembly SIMD where
 * it compiles synchronously, else the JavaScript reference.
 */
export function defaultKernels(): Kernels {
  if (!shared) {
    try {
      shared = detectWasmSimd().simd ? WasmKernels.createSync() : new ReferenceKernels();
    } catch {
      shared = new ReferenceKernels();
    }
  }
  return shared;
}
