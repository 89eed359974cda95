/**
 * The worker side of WorkerPool. Two kinds of work:
 *  - "rows": converts a block of a tensor's rows read from a shared input buffer with the codec registry and
 *    writes the result into the shared output buffer (WorkerRowQuantizer), answering with a message;
 *  - "kernel-prepare" / "kernel-task": a KernelTaskRunner over the shared kernel memory, which runs kernel tasks
 *    and signals their completion (and error) through the shared control block.
 * Errors answered by message keep their BitsmithError message, file and field.
 */
import { parentPort } from "node:worker_threads";
import "../codecs/index.js";
import { BitsmithError } from "../core/index.js";
import { KernelTaskRunner } from "../kernels/kernel-task-runner.js";
import type { KernelTask } from "../kernels/kernel-tasks.js";
import { convertRows, rowBytes } from "../quantize/row-quantizer.js";
import type { RowJob } from "../quantize/row-quantizer.js";

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

const kernels = new Map<number, KernelTaskRunner>();

function convertBlock({ job, start, rows, input, output }: RowTask): void {
  const inRow = rowBytes(job.from, job.rowLength);
  const outRow = rowBytes(job.to, job.rowLength);
  const bytes = new Uint8Array(input, start * inRow, rows * inRow);
  const result = convertRows({ ...job, firstRow: job.firstRow + start, rows, bytes });
  new Uint8Array(output, start * outRow, rows * outRow).set(result);
}

parentPort!.on("message", (message: PoolRequest | KernelTaskMessage) => {
  if (message.kind === "kernel-task") {
    kernels.get(message.setup)!.run(message.task);
    return;
  }
  try {
    if (message.kind === "rows") convertBlock(message);
    else kernels.set(message.setup, new KernelTaskRunner(message, message.control));
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
