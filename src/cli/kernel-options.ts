/** The matrix-kernel flags shared by the commands that run the engine (eval, generate, imatrix, quantize --method). */
import { availableParallelism } from "node:os";
import type { Kernels } from "../kernels/index.js";
import { NODE_KERNEL_KINDS, createNodeKernels } from "../node/kernels.js";
import { choiceOption, integerOption } from "./option-values.js";

export interface KernelFlags {
  threads?: string;
  kernels?: string;
}

export const THREADS_HELP = "threads for the matrix kernels (default: all cores)";
export const KERNELS_HELP =
  "auto: WebAssembly SIMD, large products on bitsmith's native addon when it was built (else onnxruntime-node's kernels when installed); native: require one of them; onnxruntime; wasm; reference (plain JavaScript)";

/** The kernels the flags ask for; `threads` overrides --threads (a positional thread count). */
export async function kernelsFromFlags(flags: KernelFlags, threads?: string): Promise<Kernels> {
  const count = threads ?? flags.threads;
  return createNodeKernels({
    threads: count !== undefined ? integerOption(count, flags.threads !== undefined ? "--threads" : "threads", 1, 256) : availableParallelism(),
    kind: choiceOption(flags.kernels ?? "auto", "--kernels", NODE_KERNEL_KINDS),
  });
}
