/**
 * How WasmKernels reaches other threads. The core has no threads of its own; bitsmith/node implements this over
 * its worker pool (src/node/worker-kernel-executor.ts), the browser entry over Web Workers
 * (src/browser/web-worker-executor.ts). Both share the control block (kernel-control.ts) and the worker side
 * (kernel-task-runner.ts).
 */
import type { KernelTask } from "./kernel-tasks.js";

/** What every worker needs to run kernel tasks: the shared memory and the compiled kernel module. */
export interface KernelSetup {
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
}

/** Tasks started on workers; `wait` blocks the calling thread until all have finished. */
export interface RunningTasks {
  /** Throws the first error a worker reported (after every task has finished). */
  wait(): void;
}

export interface KernelExecutor {
  /** Worker threads available besides the calling thread. */
  readonly workers: number;
  /** Gives every worker the memory and the module; resolves when all can run tasks. */
  prepare(setup: KernelSetup): Promise<void>;
  /** Starts tasks[i] on worker i (at most `workers` tasks). */
  start(tasks: readonly KernelTask[]): RunningTasks;
  /** Releases the workers. */
  close(): Promise<void>;
}
