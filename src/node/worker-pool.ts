/**
 * bitsmith's one pool of worker threads, created once and shared by everything that runs in parallel:
 * row quantization (WorkerRowQuantizer: queued blocks that any idle worker takes) and the matrix kernels
 * (WorkerKernelExecutor: one task per worker, all over shared WebAssembly memory). Every worker runs
 * pool-worker.js, which serves both kinds of message.
 */
import { Worker } from "node:worker_threads";
import { BitsmithError, checkThreadCount } from "../core/index.js";
import type { PoolReply, PoolRequest } from "./pool-worker.js";

const WORKER_URL = new URL("./pool-worker.js", import.meta.url);

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

/** A request without its id (the pool numbers them). */
type Request = PoolRequest extends infer R ? (R extends { id: number } ? Omit<R, "id"> : never) : never;

/** A worker's error as an Error of this thread: BitsmithErrors stay BitsmithErrors (message without the prefix). */
export function reviveWorkerError(e: Extract<PoolReply, { error: unknown }>["error"]): Error {
  if (!e.bitsmith) return Object.assign(new Error(e.message), { stack: e.stack });
  const prefix = [e.file, e.field].filter((s) => s !== undefined && s !== "").join(": ");
  const message = prefix && e.message.startsWith(prefix + ": ") ? e.message.slice(prefix.length + 2) : e.message;
  return new BitsmithError(message, { file: e.file, field: e.field });
}

export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: { request: Request; cancelled: () => boolean; pending: Pending }[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Workers whose current request came from the queue (they return to `idle` when it is answered). */
  private readonly queued = new Set<number>();
  /** Answers each worker owes: a worker keeps the process alive only while it owes one. */
  private readonly owed = new Map<Worker, number>();
  private nextId = 0;
  private closed = false;

  constructor(readonly threads: number) {
    checkThreadCount(threads);
  }

  /**
   * Queues a request for the next idle worker; `cancelled` is asked when a worker frees up, so requests of a
   * failed job never start.
   */
  run(request: Request, cancelled: () => boolean = () => false): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the worker pool is closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ request, cancelled, pending: { resolve, reject } });
      this.dispatch();
    });
  }

  /** Sends a request to worker `index` (started if needed) and resolves on its answer. */
  runOn(index: number, request: Request): Promise<void> {
    if (this.closed) return Promise.reject(new Error("the worker pool is closed"));
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.send(this.worker(index), { ...request, id });
    });
  }

  /** Posts a message that expects no answer (kernel tasks signal through shared memory). */
  post(index: number, message: unknown): void {
    this.worker(index).postMessage(message);
  }

  /** Worker `index`, started if it is not yet. */
  private worker(index: number): Worker {
    if (index >= this.threads) throw new Error(`worker ${index} of a pool of ${this.threads}`);
    while (this.workers.length <= index) this.idle.push(this.spawn());
    return this.workers[index]!;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.cancelled()) {
        this.queue.shift();
        next.pending.reject(new Error("cancelled"));
        continue;
      }
      const worker = this.idle.pop() ?? (this.workers.length < this.threads ? this.spawn() : undefined);
      if (!worker) return;
      this.queue.shift();
      const id = this.nextId++;
      this.pending.set(id, next.pending);
      this.queued.add(id);
      this.send(worker, { ...next.request, id });
    }
  }

  private send(worker: Worker, request: PoolRequest): void {
    const owed = this.owed.get(worker) ?? 0;
    if (owed === 0) worker.ref();
    this.owed.set(worker, owed + 1);
    worker.postMessage(request);
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_URL);
    worker.on("message", (r: PoolReply) => {
      const p = this.pending.get(r.id)!;
      this.pending.delete(r.id);
      const owed = this.owed.get(worker)! - 1;
      this.owed.set(worker, owed);
      if (owed === 0) worker.unref();
      if (this.queued.delete(r.id)) this.idle.push(worker);
      if ("error" in r) p.reject(reviveWorkerError(r.error));
      else p.resolve();
      this.dispatch();
    });
    worker.on("error", (e) => {
      // A crashed worker fails everything in flight; the pool cannot continue.
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      for (const q of this.queue.splice(0)) q.pending.reject(e);
    });
    // A worker with nothing to answer must not keep the process alive.
    worker.unref();
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
