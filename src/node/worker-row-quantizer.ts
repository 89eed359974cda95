/**
 * A RowQuantizer over worker threads: a tensor's rows are cut into blocks that idle workers of bitsmith's
 * worker pool take one at a time, as llama-quantize's threads take chunks. Each worker runs the same codecs as
 * the single-threaded quantizer, so the output is byte-identical whatever the thread count.
 */
import { rowBytes, rowsPerBlock } from "../quantize/row-quantizer.js";
import type { RowJob, RowQuantizer } from "../quantize/row-quantizer.js";
import { WorkerPool } from "./worker-pool.js";

export class WorkerRowQuantizer implements RowQuantizer {
  readonly threads: number;
  private readonly pool: WorkerPool;
  private readonly ownsPool: boolean;
  private closed = false;
  private input?: SharedArrayBuffer;
  private output?: SharedArrayBuffer;

  /** A thread count (a pool of its own, closed with the quantizer) or a pool to share (left open). */
  constructor(threadsOrPool: number | WorkerPool) {
    this.ownsPool = typeof threadsOrPool === "number";
    this.pool = typeof threadsOrPool === "number" ? new WorkerPool(threadsOrPool) : threadsOrPool;
    this.threads = this.pool.threads;
  }

  async convert(job: RowJob, onRows?: (rows: number) => void): Promise<Uint8Array> {
    if (this.closed) throw new Error("WorkerRowQuantizer is closed");
    // Input and output live in shared memory: workers read their rows and write their results in place. The two
    // buffers are kept from tensor to tensor (grown when needed): shared memory is freed late by the collector.
    const outBytes = job.rows * rowBytes(job.to, job.rowLength);
    const input = (this.input = grown(this.input, job.bytes.length));
    const output = (this.output = grown(this.output, outBytes));
    new Uint8Array(input).set(job.bytes);
    const { bytes: _, ...meta } = job;
    // Enough blocks to keep every worker busy to the end, each still large enough to amortise the messages.
    const step = Math.min(rowsPerBlock(job.rowLength, 1 << 22), Math.max(1, Math.ceil(job.rows / (this.threads * 8))));
    let failed = false;
    const blocks: Promise<void>[] = [];
    for (let start = 0; start < job.rows; start += step) {
      const rows = Math.min(step, job.rows - start);
      blocks.push(
        this.pool.run({ kind: "rows", job: meta, start, rows, input, output }, () => failed).then(
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
    return new Uint8Array(output, 0, outBytes).slice();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.input = this.output = undefined;
    if (this.ownsPool) await this.pool.close();
  }
}

/** `buffer` when it holds `size` bytes, else a new shared buffer of that size. */
function grown(buffer: SharedArrayBuffer | undefined, size: number): SharedArrayBuffer {
  return buffer && buffer.byteLength >= size ? buffer : new SharedArrayBuffer(size);
}
