/**
 * The shared control block of kernel tasks: how many are still running and the first error, in a
 * SharedArrayBuffer, so the thread that started them can block in Atomics.wait (it reads no messages
 * meanwhile) and workers can report without a message. Used by every KernelExecutor (bitsmith/node's worker
 * threads, the browser's Web Workers) and, on the worker side, by KernelTaskRunner.
 */
import type { RunningTasks } from "./kernel-executor.js";
import type { KernelTask } from "./kernel-tasks.js";

const PENDING = 0;
const FAILED = 1;
const MESSAGE_LENGTH = 2;
const HEADER_BYTES = 16;
const MESSAGE_BYTES = 4096;

export class KernelControl {
  private readonly words: Int32Array;
  private readonly text: Uint8Array;
  /** The starting thread's: a batch is out. */
  private running = false;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(HEADER_BYTES + MESSAGE_BYTES)) {
    this.words = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.text = new Uint8Array(buffer, HEADER_BYTES, MESSAGE_BYTES);
  }

  /**
   * The starting thread's side: posts tasks[i] to worker i (`post`, at most `workers` tasks) and returns the
   * handle that blocks until all are done. One batch at a time.
   */
  start<Task = KernelTask>(tasks: readonly Task[], workers: number, post: (worker: number, task: Task) => void): RunningTasks {
    if (tasks.length > workers) throw new Error(`${tasks.length} kernel tasks for ${workers} workers`);
    if (this.running) throw new Error("kernel tasks are already running");
    this.running = true;
    Atomics.store(this.words, FAILED, 0);
    Atomics.store(this.words, PENDING, tasks.length);
    tasks.forEach((task, i) => post(i, task));
    return {
      wait: () => {
        try {
          this.wait();
        } finally {
          this.running = false;
        }
      },
    };
  }

  /** The worker side: a task finished (after fail, if it failed). */
  done(): void {
    if (Atomics.sub(this.words, PENDING, 1) === 1) Atomics.notify(this.words, PENDING);
  }

  /** Records the first failure's message. */
  fail(message: string): void {
    if (Atomics.compareExchange(this.words, FAILED, 0, 1) !== 0) return;
    const { written } = new TextEncoder().encodeInto(message, this.text);
    Atomics.store(this.words, MESSAGE_LENGTH, written);
  }

  /** Blocks until every task is done; throws the first failure. */
  private wait(): void {
    for (;;) {
      const pending = Atomics.load(this.words, PENDING);
      if (pending === 0) break;
      Atomics.wait(this.words, PENDING, pending);
    }
    if (Atomics.load(this.words, FAILED) !== 0) {
      const length = Atomics.load(this.words, MESSAGE_LENGTH);
      throw new Error(`kernel worker failed: ${new TextDecoder().decode(this.text.slice(0, length))}`);
    }
  }
}
