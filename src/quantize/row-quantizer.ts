/**
 * Turning one tensor's rows into another type, the step quantization spends its time in. A RowQuantizer
 * takes a whole tensor and may split its rows however it likes (threads, workers): every ggml quantizer works
 * row by row, so the bytes do not depend on the split. This module has the single-threaded implementation that
 * runs anywhere; bitsmith/node adds a worker-thread pool.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import { requireCodec } from "../codecs/index.js";
import { toFloat32 } from "../codecs/convert.js";

/** Rows of a tensor to convert (the whole tensor, or a block of its rows). */
export interface RowJob {
  /** Tensor name, for error messages. */
  readonly tensor: string;
  /** Type name of `bytes`. */
  readonly from: string;
  /** Type name to produce. */
  readonly to: string;
  /** Values per row. */
  readonly rowLength: number;
  /** Index of the first row within its tensor (for messages and to pick importance rows). */
  readonly firstRow: number;
  readonly rows: number;
  /** The rows, encoded as `from`. */
  readonly bytes: Uint8Array;
  /**
   * Importance of each column, one run of `rowLength` per matrix of the tensor (experts of a 3-D tensor);
   * as llama-quantize passes it to ggml_quantize_chunk.
   */
  readonly imatrix?: Float32Array;
  /** Rows per matrix (the tensor's second-to-last dimension); selects the imatrix run of a row. */
  readonly rowsPerMatrix: number;
}

export interface RowQuantizer {
  /** Threads used (1 for the in-process implementation). */
  readonly threads: number;
  /**
   * Converts the job's rows, returning `rows` rows of `to`. Calls `onRows(n)` as rows complete. Non-finite input
   * values are an error naming the tensor and row, as llama.cpp's data validation refuses them.
   */
  convert(job: RowJob, onRows?: (rows: number) => void): Promise<Uint8Array>;
  /** Releases threads; the quantizer cannot be used afterwards. */
  close(): Promise<void>;
}

/** Bytes of one row of `rowLength` values of type `typeName`. */
export function rowBytes(typeName: string, rowLength: number): number {
  const t = tensorType(typeName)!;
  return (rowLength / t.blockSize) * t.typeSize;
}

/**
 * The first non-finite value of `values` (NaN or ±Inf), or -1. The fast pass sums v × 0, which is 0 for every
 * finite v and NaN for NaN and ±Inf, in four independent sums; only a tensor that fails it is searched.
 */
export function findNonFinite(values: Float32Array): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const n4 = values.length & ~3;
  for (let i = 0; i < n4; i += 4) {
    s0 += values[i]! * 0;
    s1 += values[i + 1]! * 0;
    s2 += values[i + 2]! * 0;
    s3 += values[i + 3]! * 0;
  }
  for (let i = n4; i < values.length; i++) s0 += values[i]! * 0;
  if (s0 + s1 + s2 + s3 === 0) return -1;
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** Throws when `values` (rows starting at `firstRow`) hold NaN or ±Inf, naming the tensor, row and column. */
export function checkFinite(values: Float32Array, tensor: string, rowLength: number, firstRow: number): void {
  const at = findNonFinite(values);
  if (at < 0) return;
  const row = firstRow + Math.floor(at / rowLength);
  throw new BitsmithError(`row ${row} holds ${values[at]} at column ${at % rowLength}: the input has invalid data`, { field: `tensor "${tensor}"` });
}

/** Converts one block of rows in this thread: decode, check, encode (per matrix when importance is given). */
export function convertRows(job: RowJob): Uint8Array {
  const from = tensorType(job.from)!;
  const count = job.rows * job.rowLength;
  const values = toFloat32(job.bytes, from, count);
  checkFinite(values, job.tensor, job.rowLength, job.firstRow);
  const codec = requireCodec(job.to);
  if (!job.imatrix) return codec.quantize(values, job.rows, job.rowLength);
  const out = new Uint8Array(job.rows * rowBytes(job.to, job.rowLength));
  let done = 0;
  while (done < job.rows) {
    const row = job.firstRow + done;
    const matrix = Math.floor(row / job.rowsPerMatrix);
    const n = Math.min(job.rows - done, (matrix + 1) * job.rowsPerMatrix - row);
    const weights = job.imatrix.subarray(matrix * job.rowLength, (matrix + 1) * job.rowLength);
    const part = codec.quantize(values.subarray(done * job.rowLength, (done + n) * job.rowLength), n, job.rowLength, weights);
    out.set(part, done * rowBytes(job.to, job.rowLength));
    done += n;
  }
  return out;
}

/** The rows of `job` from `start`, `count` of them, as a job of their own. */
export function rowBlock(job: RowJob, start: number, count: number): RowJob {
  const inRow = rowBytes(job.from, job.rowLength);
  return { ...job, firstRow: job.firstRow + start, rows: count, bytes: job.bytes.subarray(start * inRow, (start + count) * inRow) };
}

/** Rows per block: about `targetValues` values (at least one row), so blocks stay cache- and message-sized. */
export function rowsPerBlock(rowLength: number, targetValues = 1 << 20): number {
  return Math.max(1, Math.floor(targetValues / Math.max(1, rowLength)));
}

/** Converts everything in the calling thread, block by block (bounded float32 scratch memory). */
export class SingleThreadRowQuantizer implements RowQuantizer {
  readonly threads = 1;

  async convert(job: RowJob, onRows?: (rows: number) => void): Promise<Uint8Array> {
    const step = rowsPerBlock(job.rowLength);
    const outRow = rowBytes(job.to, job.rowLength);
    const out = new Uint8Array(job.rows * outRow);
    for (let start = 0; start < job.rows; start += step) {
      const n = Math.min(step, job.rows - start);
      out.set(convertRows(rowBlock(job, start, n)), start * outRow);
      onRows?.(n);
    }
    return out;
  }

  async close(): Promise<void> {}
}
