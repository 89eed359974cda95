/**
 * A RowQuantizer over worker threads: a tensor's rows are cut into blocks that idle workers take one at a
 * time, as llama-quantize's threads take chunks. Each worker runs the same codecs as the single-threaded
 * quantizer, so the output is byte-identical whatever the thread count.
 */
import { Worker } from "node:worker_threads";
import { BitsmithError } from "../core/index.js";
import { rowBytes, rowsPerBlock } from "../quantize/row-quantizer.js";
import type { RowJob, RowQuantizer } from "../quantize/row-quantizer.js";
import type { RowTask, RowTaskResult } from "./row-quantizer-worker.js";

const WORKER_URL = new URL("./row-quantizer-worker.js", import.meta.url);

interface Pending {
  resolve(): void;
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
  private readonly queue: { task: Omit<RowTask, "id">; cancelled: () => boolean; pending: Pending }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private closed = false;

  constructor(readonly threads: number) {
    if (!Number.isSafeInteger(threads) || threads < 1) throw new BitsmithError(`thread count must be a positive integer, got ${threads}`, { field: "threads" });
  }

  async convert(job: RowJob, onRows?: (rows: number) => void): Promise<Uint8Array> {
    if (this.closed) throw new Error("WorkerRowQuantizer is closed");
    // Input and output live in shared memory: workers read their rows and write their results in place, so this
    // thread copies the input once and nothing else.
    const input = new SharedArrayBuffer(job.bytes.length);
    new Uint8Array(input).set(job.bytes);
    const output = new SharedArrayBuffer(job.rows * rowBytes(job.to, job.rowLength));
    const { bytes: _, ...meta } = job;
    // Enough blocks to keep every worker busy to the end, each still large enough to amortise the messages.
    const step = Math.min(rowsPerBlock(job.rowLength, 1 << 22), Math.max(1, Math.ceil(job.rows / (this.threads * 8))));
    let failed = false;
    const blocks: Promise<void>[] = [];
    for (let start = 0; start < job.rows; start += step) {
      const rows = Math.min(step, job.rows - start);
      blocks.push(
        this.run({ job: meta, start, rows, input, output }, () => failed).then(
          () => onRows?.(rows),
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
    return new Uint8Array(output);
  }

  /** Queues one block; `cancelled` is asked when a worker frees up, so a failed tensor's queued blocks never run. */
  private run(task: Omit<RowTask, "id">, cancelled: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ task, cancelled, pending: { resolve, reject } });
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
      const id = this.nextId++;
      this.pending.set(id, next.pending);
      worker.postMessage({ id, ...next.task } satisfies RowTask);
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
      else p.resolve();
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
