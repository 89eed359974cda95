/**
 * The native GEMM of bitsmith/node: onnxruntime-node's CPU kernels (MLAS, AVX2/AVX-512 FMA on x64, NEON on
 * arm64), when that optional package is installed. One worker thread per core, each with its own one-thread
 * onnxruntime session of a single FusedMatMul (transB = 1) node, so C = A · Bᵀ needs no transposed copy; a
 * product is cut into column slices, one per worker, and the calling thread blocks until all are written.
 *
 * Same results for every thread count: MLAS widens its k blocking when it is given a narrow B (64 columns or
 * fewer), so slices are whole multiples of SLICE_COLUMNS columns (or the whole product); every output element
 * is then computed by the same instruction sequence whichever worker computes it (tested for 1-3 threads).
 */
import { Worker } from "node:worker_threads";
import { createRequire } from "node:module";
import { BitsmithError, checkThreadCount } from "../core/index.js";
import { encodeOnnxModel } from "../formats/onnx/index.js";
import type { NativeGemm } from "../kernels/native-gemm.js";
import { KernelControl } from "../kernels/kernel-control.js";
import type { OnnxGemmReply, OnnxGemmSetup, OnnxGemmTask } from "./onnx-gemm-worker.js";

const WORKER_URL = new URL("./onnx-gemm-worker.js", import.meta.url);
/** Columns of a slice are a multiple of this (see the header). */
const SLICE_COLUMNS = 128;
/**
 * Smallest product worth a native call: a call costs a round trip to the workers (~0.1 ms), copies of the operands
 * and MLAS's packing of B, which few rows of A do not pay back. Measured on 2048 × 2048 weights: WebAssembly is
 * faster up to 32 rows (F16 weights: 50 vs 25-43 GFLOP/s on 2 threads), native from 64 (60-88 vs 51-56).
 */
const MIN_ROWS = 64;
const MIN_MACS = 1 << 24;

/** C = A · Bᵀ with A [m, k] and B [n, k], every dimension symbolic. */
export function onnxGemmModel(): Uint8Array {
  return encodeOnnxModel({
    name: "bitsmith_gemm_nt",
    nodes: [{ opType: "FusedMatMul", domain: "com.microsoft", inputs: ["A", "B"], outputs: ["C"], attributes: { transB: 1 } }],
    inputs: [
      { name: "A", dims: ["m", "k"] },
      { name: "B", dims: ["n", "k"] },
    ],
    outputs: [{ name: "C", dims: ["m", "n"] }],
    opsets: { "": 13, "com.microsoft": 1 },
  });
}

/** Whether onnxruntime-node can be found from here (it is an optional peer dependency). */
export function onnxRuntimeInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve("onnxruntime-node");
    return true;
  } catch {
    return false;
  }
}

/** Column ranges, at most one per worker: whole slices of SLICE_COLUMNS, the last range taking the rest. */
export function columnParts(n: number, threads: number): [number, number][] {
  const slices = Math.floor(n / SLICE_COLUMNS);
  const count = Math.min(threads, slices);
  if (count <= 1) return [[0, n]];
  const per = Math.ceil(slices / count);
  const ranges = Math.ceil(slices / per);
  const parts: [number, number][] = [];
  for (let i = 0; i < ranges; i++) parts.push([i * per * SLICE_COLUMNS, i === ranges - 1 ? n : (i + 1) * per * SLICE_COLUMNS]);
  return parts;
}

export class OnnxGemm implements NativeGemm {
  readonly description: string;
  private readonly control = new KernelControl();
  private workers: Worker[] = [];

  constructor(readonly threads: number) {
    checkThreadCount(threads);
    this.description = `onnxruntime mlas, ${threads} thread${threads > 1 ? "s" : ""}`;
  }

  async prepare(memory: WebAssembly.Memory): Promise<void> {
    const model = onnxGemmModel();
    const setup: OnnxGemmSetup = { kind: "setup", memory, control: this.control.buffer, model };
    this.workers = Array.from({ length: this.threads }, () => new Worker(WORKER_URL));
    try {
      await Promise.all(
        this.workers.map(
          (w) =>
            new Promise<void>((resolve, reject) => {
              w.once("error", reject);
              w.once("message", (reply: OnnxGemmReply) => ("error" in reply ? reject(new Error(reply.error)) : resolve()));
              w.postMessage(setup);
            }),
        ),
      );
    } catch (e) {
      await this.close();
      throw new BitsmithError(`onnxruntime-node could not start: ${e instanceof Error ? e.message : String(e)}`, { field: "kernels" });
    }
    // Idle workers must not keep the process alive (a task's caller is blocked until its workers finish).
    for (const w of this.workers) w.unref();
  }

  accepts(m: number, n: number, k: number, float64: boolean): boolean {
    return !float64 && m >= MIN_ROWS && m * n * k >= MIN_MACS;
  }

  gemmNT(m: number, n: number, k: number, a: number, b: number, c: number, ldc: number, accumulate: boolean): void {
    const tasks = columnParts(n, this.threads).map(([n0, n1]): OnnxGemmTask => ({ kind: "task", m, n: n1 - n0, k, a, b: b + 4 * n0 * k, c: c + 4 * n0, ldc, accumulate }));
    this.control.start(tasks, this.workers.length, (i, task) => this.workers[i]!.postMessage(task)).wait();
  }

  async close(): Promise<void> {
    const workers = this.workers;
    this.workers = [];
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
