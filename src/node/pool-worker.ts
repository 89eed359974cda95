/**
 * The worker side of WorkerPool. Two kinds of work:
 *  - "rows": converts a block of a tensor's rows read from a shared input buffer with the codec registry and
 *    writes the result into the shared output buffer (WorkerRowQuantizer), answering with a message;
 *  - "kernel-prepare" / "kernel-task": instantiates the kernel module over the shared kernel memory, then runs
 *    kernel tasks; a task's completion (and error) is signalled through a shared control block, because the
 *    thread that waits for it is blocked in Atomics.wait and reads no messages.
 * Errors answered by message keep their BitsmithError message, file and field.
 */
import { parentPort } from "node:worker_threads";
import "../codecs/index.js";
import { BitsmithError } from "../core/index.js";
import { runKernelTask } from "../kernels/kernel-tasks.js";
import type { KernelExports, KernelTask } from "../kernels/kernel-tasks.js";
import { convertRows, rowBytes } from "../quantize/row-quantizer.js";
import type { RowJob } from "../quantize/row-quantizer.js";
import { KernelControl } from "./kernel-control.js";

export interface RowTask {
  readonly kind: "rows";
  readonly id: number;
  /** The tensor's job without its bytes; `start`/`rows` select the block. */
  readonly job: Omit<RowJob, "bytes">;
  readonly start: number;
  readonly rows: number;
  /** The whole tensor's input rows and output rows. */
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
}

export interface KernelPrepare {
  readonly kind: "kernel-prepare";
  readonly id: number;
  /** Which kernel instance (one pool may serve several). */
  readonly setup: number;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly control: SharedArrayBuffer;
}

export interface KernelTaskMessage {
  readonly kind: "kernel-task";
  readonly setup: number;
  readonly task: KernelTask;
}

/** Requests answered by a PoolReply. */
export type PoolRequest = RowTask | KernelPrepare;

export type PoolReply =
  | { readonly id: number }
  | { readonly id: number; readonly error: { readonly message: string; readonly bitsmith: boolean; readonly file?: string; readonly field?: string; readonly stack?: string } };

const kernels = new Map<number, { exports: KernelExports; memory: WebAssembly.Memory; control: KernelControl }>();

function convertBlock({ job, start, rows, input, output }: RowTask): void {
  const inRow = rowBytes(job.from, job.rowLength);
  const outRow = rowBytes(job.to, job.rowLength);
  const bytes = new Uint8Array(input, start * inRow, rows * inRow);
  const result = convertRows({ ...job, firstRow: job.firstRow + start, rows, bytes });
  new Uint8Array(output, start * outRow, rows * outRow).set(result);
}

function runTask({ setup, task }: KernelTaskMessage): void {
  const k = kernels.get(setup)!;
  try {
    runKernelTask(k.exports, k.memory, task);
  } catch (e) {
    k.control.fail(e instanceof Error ? (e.stack ?? e.message) : String(e));
  } finally {
    k.control.done();
  }
}

parentPort!.on("message", (message: PoolRequest | KernelTaskMessage) => {
  if (message.kind === "kernel-task") {
    runTask(message);
    return;
  }
  try {
    if (message.kind === "rows") convertBlock(message);
    else {
      const instance = new WebAssembly.Instance(message.module, { env: { memory: message.memory } });
      kernels.set(message.setup, { exports: instance.exports as unknown as KernelExports, memory: message.memory, control: new KernelControl(message.control) });
    }
    parentPort!.postMessage({ id: message.id } satisfies PoolReply);
  } catch (e) {
    const err = e as Error;
    const bitsmith = e instanceof BitsmithError;
    parentPort!.postMessage({
      id: message.id,
      error: { message: err.message, bitsmith, file: bitsmith ? e.file : undefined, field: bitsmith ? e.field : undefined, stack: err.stack },
    } satisfies PoolReply);
  }
});
