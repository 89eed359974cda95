/**
 * Worker-thread side of WorkerRowQuantizer: converts the row blocks it is sent with the codec registry and
 * sends back the bytes, or the error (BitsmithErrors keep their message, file and field).
 */
import { parentPort } from "node:worker_threads";
import "../codecs/index.js";
import { BitsmithError } from "../core/index.js";
import { convertRows } from "../quantize/row-quantizer.js";
import type { RowJob } from "../quantize/row-quantizer.js";

export interface RowTask {
  readonly id: number;
  readonly job: RowJob;
}

export type RowTaskResult =
  | { readonly id: number; readonly bytes: Uint8Array }
  | { readonly id: number; readonly error: { readonly message: string; readonly bitsmith: boolean; readonly file?: string; readonly field?: string; readonly stack?: string } };

parentPort!.on("message", ({ id, job }: RowTask) => {
  try {
    const bytes = convertRows(job);
    // Transfer the result when it owns its whole buffer, copy it otherwise.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
    parentPort!.postMessage({ id, bytes: own } satisfies RowTaskResult, [own.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error;
    const bitsmith = e instanceof BitsmithError;
    parentPort!.postMessage({
      id,
      error: { message: err.message, bitsmith, file: bitsmith ? e.file : undefined, field: bitsmith ? e.field : undefined, stack: err.stack },
    } satisfies RowTaskResult);
  }
});
