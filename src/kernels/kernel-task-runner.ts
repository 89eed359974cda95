/**
 * The worker side of a KernelExecutor, whatever the threads are (bitsmith/node's pool workers, the browser's
 * Web Workers): this worker's own instance of the kernel module over the shared memory, and tasks run on it
 * with their completion and first error reported through the shared control block, because the thread that
 * waits for them is blocked in Atomics.wait and reads no messages.
 */
import { KernelControl } from "./kernel-control.js";
import type { KernelSetup } from "./kernel-executor.js";
import { runKernelTask } from "./kernel-tasks.js";
import type { KernelExports, KernelTask } from "./kernel-tasks.js";

export class KernelTaskRunner {
  private readonly exports: KernelExports;
  private readonly memory: WebAssembly.Memory;
  private readonly control: KernelControl;

  /** `control`: the executor's KernelControl buffer. Instantiates synchronously (allowed off a browser's main thread). */
  constructor(setup: KernelSetup, control: SharedArrayBuffer) {
    const instance = new WebAssembly.Instance(setup.module, { env: { memory: setup.memory } });
    this.exports = instance.exports as unknown as KernelExports;
    this.memory = setup.memory;
    this.control = new KernelControl(control);
  }

  /** Runs a task; never throws (a failure is recorded for the waiting thread). */
  run(task: KernelTask): void {
    try {
      runKernelTask(this.exports, this.memory, task);
    } catch (e) {
      this.control.fail(e instanceof Error ? (e.stack ?? e.message) : String(e));
    } finally {
      this.control.done();
    }
  }
}
