/**
 * KernelExecutor over bitsmith's worker pool: task i of a call goes to worker i of the pool; the calling thread
 * (which runs a share itself) then blocks until they are done. A pool of T threads gives kernels T - 1 workers
 * plus the caller.
 */
import type { KernelExecutor, KernelSetup, RunningTasks } from "../kernels/kernel-executor.js";
import type { KernelTask } from "../kernels/kernel-tasks.js";
import { KernelControl } from "../kernels/kernel-control.js";
import type { KernelTaskMessage } from "./pool-worker.js";
import type { WorkerPool } from "./worker-pool.js";

let nextSetup = 0;

export class WorkerKernelExecutor implements KernelExecutor {
  readonly workers: number;
  private readonly control = new KernelControl();
  private readonly setup = nextSetup++;

  /** `ownsPool`: close the pool with the executor. */
  constructor(
    private readonly pool: WorkerPool,
    private readonly ownsPool = false,
  ) {
    this.workers = pool.threads - 1;
  }

  async prepare(setup: KernelSetup): Promise<void> {
    const { memory, module } = setup;
    await Promise.all(
      Array.from({ length: this.workers }, (_, i) => this.pool.runOn(i, { kind: "kernel-prepare", setup: this.setup, memory, module, control: this.control.buffer })),
    );
  }

  start(tasks: readonly KernelTask[]): RunningTasks {
    return this.control.start(tasks, this.workers, (i, task) => this.pool.post(i, { kind: "kernel-task", setup: this.setup, task } satisfies KernelTaskMessage));
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }
}
