/**
 * KernelExecutor over Web Workers, for browsers: a fixed set of module workers (kernel-worker.ts) created once
 * with the executor. `prepare` sends each the shared kernel memory, the compiled module and the control
 * block; `start` posts task i to worker i; `wait` blocks the calling thread in Atomics.wait until the control
 * block says all are done.
 *
 * Because of that blocking wait the calling thread must be a dedicated worker (browsers forbid Atomics.wait on
 * the main thread), which then owns these workers as nested workers, and the page must be cross-origin
 * isolated (see thread-support.ts). The constructor checks both and throws a BitsmithError saying which is
 * missing. As in Node, a worker that dies in the middle of a task (e.g. out of memory) leaves the caller
 * waiting: tasks catch their own errors, but nothing can tell a blocked thread that its worker is gone.
 */
import { BitsmithError } from "../core/index.js";
import { KernelControl } from "../kernels/kernel-control.js";
import type { KernelExecutor, KernelSetup, RunningTasks } from "../kernels/kernel-executor.js";
import type { KernelTask } from "../kernels/kernel-tasks.js";
import type { KernelWorkerMessage, KernelWorkerReply } from "./kernel-worker.js";
import { kernelThreadsUnavailable } from "./thread-support.js";

export interface WebWorkerExecutorOptions {
  /**
   * Where kernel-worker.js is served (default: beside this module, found through import.meta.url, the form
   * bundlers recognise).
   */
  workerUrl?: URL | string;
}

export class WebWorkerKernelExecutor implements KernelExecutor {
  private readonly control: KernelControl;
  private readonly pool: Worker[];

  constructor(
    readonly workers: number,
    options: WebWorkerExecutorOptions = {},
  ) {
    if (!Number.isSafeInteger(workers) || workers < 1) throw new BitsmithError(`kernel worker count must be a positive integer, got ${workers}`, { field: "threads" });
    const unavailable = kernelThreadsUnavailable();
    if (unavailable) throw new BitsmithError(`kernels cannot use Web Workers here: ${unavailable}`, { field: "threads" });
    // After the check: the control block is a SharedArrayBuffer, which pages without isolation do not have.
    this.control = new KernelControl();
    const url = options.workerUrl ?? new URL("./kernel-worker.js", import.meta.url);
    this.pool = Array.from({ length: workers }, (_, i) => new Worker(url, { type: "module", name: `bitsmith kernels ${i + 1}` }));
  }

  prepare(setup: KernelSetup): Promise<void> {
    const message: KernelWorkerMessage = { kind: "prepare", memory: setup.memory, module: setup.module, control: this.control.buffer };
    return Promise.all(this.pool.map((worker, i) => ask(worker, i, message))).then(() => undefined);
  }

  start(tasks: readonly KernelTask[]): RunningTasks {
    return this.control.start(tasks, this.workers, (i, task) => this.pool[i]!.postMessage({ kind: "task", task } satisfies KernelWorkerMessage));
  }

  async close(): Promise<void> {
    for (const worker of this.pool) worker.terminate();
  }
}

/** Sends `message` to a worker and resolves on its answer; rejects when the worker fails to load or answers an error. */
function ask(worker: Worker, index: number, message: KernelWorkerMessage): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (error?: Error) => {
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      if (error) reject(error);
      else resolve();
    };
    const onMessage = (event: MessageEvent<KernelWorkerReply>) => {
      const reply = event.data;
      settle(reply.kind === "error" ? new Error(`kernel worker ${index + 1}: ${reply.message}`) : undefined);
    };
    // A module worker that cannot be loaded (missing file, an import the browser cannot resolve) fires "error".
    const onError = (event: ErrorEvent) => {
      event.preventDefault();
      settle(new BitsmithError(`kernel worker ${index + 1} failed to start: ${event.message || "its module could not be loaded"}`, { field: "workerUrl" }));
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    worker.postMessage(message);
  });
}
