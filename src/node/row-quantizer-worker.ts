/**
 * Worker-thread side of WorkerRowQuantizer: converts a block of rows read from the shared input buffer with the
 * codec registry and writes the result into the shared output buffer, then reports completion or the error
 * (BitsmithErrors keep their message, file and field).
 */
import { parentPort } from "node:worker_threads";
import "../codecs/index.js";
import { BitsmithError } from "../core/index.js";
import { convertRows, rowBytes } from "../quantize/row-quantizer.js";
import type { RowJob } from "../quantize/row-quantizer.js";

export interface RowTask {
  readonly id: number;
  /** The tensor's job without its bytes; `start`/`rows` select the block. */
  readonly job: Omit<RowJob, "bytes">;
  readonly start: number;
  readonly rows: number;
  /** The whole tensor's input rows and output rows. */
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
}

export type RowTaskResult =
  | { readonly id: number }
  | { readonly id: number; readonly error: { readonly message: string; readonly bitsmith: boolean; readonly file?: string; readonly field?: string; readonly stack?: string } };

parentPort!.on("message", ({ id, job, start, rows, input, output }: RowTask) => {
  try {
    const inRow = rowBytes(job.from, job.rowLength);
    const outRow = rowBytes(job.to, job.rowLength);
    const bytes = new Uint8Array(input, start * inRow, rows * inRow);
    const result = convertRows({ ...job, firstRow: job.firstRow + start, rows, bytes });
    new Uint8Array(output, start * outRow, rows * outRow).set(result);
    parentPort!.postMessage({ id } satisfies RowTaskResult);
  } catch (e) {
    const err = e as Error;
    const bitsmith = e instanceof BitsmithError;
    parentPort!.postMessage({
      id,
      error: { message: err.message, bitsmith, file: bitsmith ? e.file : undefined, field: bitsmith ? e.field : undefined, stack: err.stack },
    } satisfies RowTaskResult);
  }
});
