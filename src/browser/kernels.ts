/**
 * Kernels for browsers: WebAssembly SIMD (relaxed-SIMD FMA where the browser has it), over Web Workers when
 * asked for more than one thread. Multi-threaded kernels need a cross-origin isolated page and a calling thread
 * that may block, i.e. a dedicated worker (see web-worker-executor.ts): call createBrowserKernels from such a
 * worker, which then starts threads - 1 nested workers.
 */
import { checkThreadCount } from "../core/index.js";
import { createKernels, detectWasmSimd } from "../kernels/index.js";
import type { KernelKind, Kernels } from "../kernels/index.js";
import { kernelThreadsUnavailable } from "./thread-support.js";
import { WebWorkerKernelExecutor } from "./web-worker-executor.js";
import type { WebWorkerExecutorOptions } from "./web-worker-executor.js";

export interface BrowserKernelOptions extends WebWorkerExecutorOptions {
  /**
   * Threads to compute on, the calling one included. Default: navigator.hardwareConcurrency where this thread can
   * drive workers, else 1. Asking for more than 1 where it cannot throws a BitsmithError saying why.
   */
  threads?: number;
  kind?: KernelKind;
  relaxed?: boolean | "auto";
}

export async function createBrowserKernels(options: BrowserKernelOptions = {}): Promise<Kernels> {
  if (options.kind === "reference" || !detectWasmSimd().simd) return createKernels({ kind: options.kind });
  const threads = options.threads ?? (kernelThreadsUnavailable() === undefined ? (globalThis.navigator?.hardwareConcurrency ?? 1) : 1);
  checkThreadCount(threads);
  const executor = threads > 1 ? new WebWorkerKernelExecutor(threads - 1, options) : undefined;
  try {
    return await createKernels({ kind: options.kind, executor, relaxed: options.relaxed });
  } catch (e) {
    await executor?.close();
    throw e;
  }
}
