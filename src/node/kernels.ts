/**
 * Kernels for Node: WebAssembly SIMD with relaxed-SIMD fused multiply-add switched on (Node 20 ships it behind a
 * flag), over bitsmith's worker pool.
 */
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import { createKernels, detectWasmSimd } from "../kernels/index.js";
import type { KernelKind, Kernels } from "../kernels/index.js";
import { WorkerKernelExecutor } from "./worker-kernel-executor.js";
import { WorkerPool } from "./worker-pool.js";

/**
 * Lets V8 compile relaxed-SIMD instructions (Node 20: --experimental-wasm-relaxed-simd; later versions have
 * them on). Process-wide, workers included; must run before the kernels are compiled.
 */
export function enableRelaxedSimd(): void {
  if (!detectWasmSimd().relaxed) setFlagsFromString("--experimental-wasm-relaxed-simd");
}

export interface NodeKernelOptions {
  /** Threads to compute on, the calling one included (default: the machine's parallelism). */
  threads?: number;
  /** Run on this pool's workers (threads = pool.threads); it stays open when the kernels close. */
  pool?: WorkerPool;
  kind?: KernelKind;
  relaxed?: boolean | "auto";
}

export async function createNodeKernels(options: NodeKernelOptions = {}): Promise<Kernels> {
  enableRelaxedSimd();
  if (options.kind === "reference" || !detectWasmSimd().simd) return createKernels({ kind: options.kind });
  const threads = options.pool?.threads ?? options.threads ?? availableParallelism();
  const pool = options.pool ?? (threads > 1 ? new WorkerPool(threads) : undefined);
  const executor = pool && pool.threads > 1 ? new WorkerKernelExecutor(pool, !options.pool) : undefined;
  try {
    return await createKernels({ kind: options.kind, executor, relaxed: options.relaxed });
  } catch (e) {
    await executor?.close();
    throw e;
  }
}
