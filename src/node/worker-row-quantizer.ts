/**
 * A RowQuantizer over worker threads: a tensor's rows are cut into blocks that idle workers take one at a
 * time, as llama-quantize's threads take chunks. Each worker runs the same codecs as the single-threaded
 * quantizer, so the output is byte-identical whatever the thread count.
 */
import { Worker } from "node:worker_threads";
import { BitsmithError } from "../core/index.js";
import { rowBlock, rowBytes, rowsPerBlock } from "../quantize/row-quantizer.js";
import type { RowJob, RowQuantizer } from "../quantize/row-quantizer.js";
import type { RowTask, RowTaskResult } from "./row-quantizer-worker.js";

const WORKER_URL = new URL("./row-quantizer-worker.js", import.meta.url);

interface Pending {
  resolve(bytes: Uint8Array): void;
  reject(error: Error): void;
}

/** A worker's error as an Error of this thread: BitsmithErrors stay BitsmithErrors (message without the prefix). */
function revive(e: Extract<RowTaskResult, { error: unknown }>["error"]): Error {
  if (!e.bitsmith) return Object.assign(new Error(e.message), { stack: e.stack });
  const prefix = [e.file, e.field].filter((s) => s !== undefined && s !== "").join(": ");
  const message = prefix && e.message.startsWith(prefix + ": ") ? e.message.slice(prefix.length + 2) : e.message;
  return new BitsmithError(message, { file: e.file, field: e.field });
}

export class WorkerRowQuantizer implements RowQuantizer {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { make: () => RowTask; cancelled: () => boolean; pending: Pending }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(readonly threads: number) {
    if (!Number.isSafeInteger(threads) || threads < 1) throw new BitsmithError(`thread count must be a positive integer, got ${threads}`, { field: "threads" });
  }

  async convert(job: RowJob, onRows?: (rows: number) => void): Promise<Uint8Array> {
    if (this.closed) throw new Error("WorkerRowQuantizer is closed");
    const outRow = rowBytes(job.to, job.rowLength);
    const out = new Uint8Array(job.rows * outRow);
    // Enough blocks to keep every worker busy to the end, each still large enough to amortise the messages.
    const step = Math.min(rowsPerBlock(job.rowLength, 1 << 22), Math.max(1, Math.ceil(job.rows / (this.threads * 8))));
    let failed = false;
    const blocks: Promise<void>[] = [];
    for (let start = 0; start < job.rows; start += step) {
      const n = Math.min(step, job.rows - start);
      // The block's bytes are copied only when a worker takes it, so queued blocks cost no memory.
      const make = (): RowTask => {
        const block = rowBlock(job, start, n);
        // A copy the worker can own (a Node Buffer's slice() would not copy).
        return { id: this.nextId++, job: { ...block, bytes: new Uint8Array(block.bytes) } };
      };
      blocks.push(
        this.run(make, () => failed).then(
          (bytes) => {
            out.set(bytes, start * outRow);
            onRows?.(n);
          },
          (e) => {
            failed = true;
            throw e;
          },
        ),
      );
    }
    try {
      await Promise.all(blocks);
    } catch (e) {
      // Let the blocks already running finish before reporting, so no worker still writes for this tensor.
      await Promise.allSettled(blocks);
      throw e;
    }
    return out;
  }

  /** Queues one block; `cancelled` is asked when a worker frees up, so a failed tensor's queued blocks never run. */
  private run(make: () => RowTask, cancelled: () => boolean): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ make, cancelled, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.cancelled()) {
        this.queue.shift();
        next.pending.reject(new Error("cancelled"));
        continue;
      }
      const worker = this.idle.pop() ?? this.spawn();
      if (!worker) return;
      this.queue.shift();
      const task = next.make();
      this.pending.set(task.id, next.pending);
      worker.postMessage(task, [task.job.bytes.buffer as ArrayBuffer]);
    }
  }

  private spawn(): Worker | undefined {
    if (this.workers.length >= this.threads) return undefined;
    const worker = new Worker(WORKER_URL);
    worker.on("message", (r: RowTaskResult) => {
      const p = this.pending.get(r.id)!;
      this.pending.delete(r.id);
      this.idle.push(worker);
      if ("error" in r) p.reject(revive(r.error));
      else p.resolve(r.bytes);
      this.dispatch();
    });
    worker.on("error", (e) => {
      // A crashed worker fails everything in flight; the pool cannot continue.
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      for (const q of this.queue.splice(0)) q.pending.reject(e);
    });
    this.workers.push(worker);
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
    this.idle.length = 0;
  }
}
