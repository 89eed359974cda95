/**
 * Kernels on generated WebAssembly SIMD (wasm/gemm-module.ts), on the calling thread and, with an executor,
 * on worker threads sharing the same memory. A call is cut into one task per thread (runs of B's rows, or of
 * A's rows when B has few); every output element is computed the same way whichever thread computes it, so
 * results do not depend on the thread count.
 *
 * Operands that live in the kernels' memory (allocate/place) are used in place; others are copied in for the
 * call. Encoded weights in the memory are decoded by each thread for its own rows, a chunk at a time, right
 * before they are multiplied (the chunk is still in cache); weights outside it are decoded by the calling
 * thread a block at a time and multiplied in parallel.
 */
import { BitsmithError } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import { KernelMemory } from "./kernel-memory.js";
import type { KernelMemoryOptions } from "./kernel-memory.js";
import type { KernelExecutor } from "./kernel-executor.js";
import { runKernelTask } from "./kernel-tasks.js";
import type { KernelExports, KernelTask } from "./kernel-tasks.js";
import { ReferenceKernels } from "./kernels.js";
import type { NativeGemm } from "./native-gemm.js";
import type { Accumulation, GemmOptions, Kernels, WeightMatrix } from "./kernels.js";
import { GEMM_SCRATCH_BYTES, gemmModuleBytes } from "./wasm/gemm-module.js";
import { ACTIVATION_BLOCK } from "./activation-rounding.js";
import type { ActivationFormat } from "./activation-rounding.js";
import type { ActivationRoundingExports } from "./wasm/activation-rounding-module.js";
import type { RowOpExports } from "./wasm/row-ops-module.js";
import type { RopeHeads } from "./vector-ops.js";
import { detectWasmSimd } from "./wasm/simd-support.js";
import { blockedUpperCholeskyOfInverse } from "./linalg-f64-blocked.js";

/** Below this many multiply-adds a call runs on the calling thread alone (a worker round trip costs ~0.1 ms). */
const PARALLEL_MIN_MACS = 1 << 21;
/** Weight rows a thread decodes at a time before multiplying them. */
const DECODE_CHUNK_ROWS = 64;
/** Values the calling thread decodes at a time for weights outside the kernels' memory. */
const OUTSIDE_BLOCK_VALUES = 1 << 21;
/** Values of an encoded weight decoded at a time for a native GEMM (32 MiB of float32). */
const NATIVE_DECODE_VALUES = 1 << 23;
/** Memory allocate and place leave free, so that the operands and scratch of calls still fit. */
const CALL_RESERVE_BYTES = 256 * 1024 * 1024;

export interface WasmKernelsOptions {
  /** Worker threads (besides the caller) to split calls over; none by default. */
  executor?: KernelExecutor;
  /** Use relaxed SIMD's fused multiply-add: "auto" (default) when the runtime validates it. */
  relaxed?: boolean | "auto";
  memory?: KernelMemoryOptions;
  /** A native GEMM for the large float32-accumulated products (prepared by create). */
  native?: NativeGemm;
}

interface Operand {
  address: number;
  ld: number;
}

/** A part of the output: rows [m0, m1) × columns [n0, n1). */
interface Part {
  m0: number;
  m1: number;
  n0: number;
  n1: number;
}

export class WasmKernels implements Kernels {
  readonly threads: number;
  readonly description: string;
  /** Per thread: gemm scratch. */
  private readonly scratch: number[];
  /** For operands outside the kernels' memory in the row loops. */
  private readonly reference = new ReferenceKernels();
  /** Returns the memory of buffers from allocate/place that are dropped without release. */
  private readonly reclaim = new FinalizationRegistry<number>((address) => this.memory.release(address));

  private constructor(
    readonly memory: KernelMemory,
    private readonly exports: KernelExports,
    readonly relaxed: boolean,
    private readonly executor: KernelExecutor | undefined,
    private readonly native: NativeGemm | undefined,
  ) {
    this.threads = 1 + (executor?.workers ?? 0);
    this.description = `wasm ${relaxed ? "relaxed-simd (fma)" : "simd128"}, ${this.threads} thread${this.threads > 1 ? "s" : ""}${native ? `; large products on ${native.description}` : ""}`;
    this.scratch = Array.from({ length: this.threads }, () => this.mustAllocate(GEMM_SCRATCH_BYTES));
  }

  /** Compiles the kernels (asynchronously: browsers refuse large synchronous compiles) and prepares the workers. */
  static async create(options: WasmKernelsOptions = {}): Promise<WasmKernels> {
    const { memory, relaxed, bytes, executor } = WasmKernels.plan(options);
    const module = await WebAssembly.compile(bytes);
    const instance = await WebAssembly.instantiate(module, { env: { memory: memory.memory } });
    if (executor) await executor.prepare({ memory: memory.memory, module });
    if (options.native) {
      if (!memory.shared) throw new BitsmithError("a native GEMM needs shared WebAssembly memory, which this runtime does not offer");
      await options.native.prepare(memory.memory);
    }
    return new WasmKernels(memory, instance.exports as unknown as KernelExports, relaxed, executor, options.native);
  }

  /**
   * Single-threaded kernels compiled synchronously (Node, or a browser's worker; a browser's main thread may
   * refuse the compile, which then throws).
   */
  static createSync(options: Omit<WasmKernelsOptions, "executor"> = {}): WasmKernels {
    const { memory, relaxed, bytes } = WasmKernels.plan(options);
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: memory.memory } });
    return new WasmKernels(memory, instance.exports as unknown as KernelExports, relaxed, undefined, undefined);
  }

  private static plan(options: WasmKernelsOptions) {
    const support = detectWasmSimd();
    if (!support.simd) throw new BitsmithError("this JavaScript runtime has no WebAssembly SIMD");
    const relaxed = options.relaxed === "auto" || options.relaxed === undefined ? support.relaxed : options.relaxed;
    const executor = options.executor && options.executor.workers > 0 ? options.executor : undefined;
    const memory = new KernelMemory(options.memory);
    if (executor && !memory.shared) throw new BitsmithError("worker threads need shared WebAssembly memory, which this runtime does not offer");
    const bytes = gemmModuleBytes({ relaxed, memory: { initial: 1, maximum: memory.maximumPages, shared: memory.shared } });
    return { memory, relaxed, bytes, executor };
  }

  private mustAllocate(bytes: number): number {
    const address = this.memory.allocate(bytes);
    if (address === undefined) throw new BitsmithError(`kernel memory is full: ${bytes} more bytes needed`);
    return address;
  }

  /**
   * In the shared memory while it has room (else a plain array). The memory is returned by release, or when
   * the returned view is garbage-collected: keep that view (not only subarrays of it) alive while using it.
   */
  allocate(count: number): Float32Array {
    if (!this.memory.persistent) return new Float32Array(count);
    const address = this.memory.allocate(count * 4, CALL_RESERVE_BYTES);
    if (address === undefined) return new Float32Array(count);
    const view = this.memory.f32(address, count).fill(0);
    this.reclaim.register(view, address, view);
    return view;
  }

  /** As allocate, for bytes. */
  place(bytes: Uint8Array): Uint8Array {
    if (!this.memory.persistent) return bytes;
    const address = this.memory.allocate(bytes.length, CALL_RESERVE_BYTES);
    if (address === undefined) return bytes;
    const view = this.memory.u8(address, bytes.length);
    view.set(bytes);
    this.reclaim.register(view, address, view);
    return view;
  }

  release(view: ArrayBufferView): void {
    if (!this.reclaim.unregister(view)) return;
    this.memory.release(this.memory.addressOf(view)!);
  }

  async close(): Promise<void> {
    await Promise.all([this.executor?.close(), this.native?.close()]);
  }

  gemmNT(
    m: number, n: number, k: number,
    a: Float32Array, aOff: number, lda: number,
    b: Float32Array, bOff: number, ldb: number,
    c: Float32Array, cOff: number, ldc: number,
    options: GemmOptions = {},
  ): void {
    const accumulate = options.accumulate ?? false;
    const float64 = options.accumulation === "float64";
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (!accumulate) for (let r = 0; r < m; r++) c.fill(0, cOff + r * ldc, cOff + r * ldc + n);
      return;
    }
    this.withOperands(
      [
        { view: a, offset: aOff, ld: lda, rows: m, cols: k, input: true },
        { view: b, offset: bOff, ld: ldb, rows: n, cols: k, input: true },
        { view: c, offset: cOff, ld: ldc, rows: m, cols: n, input: accumulate, output: true },
      ],
      ([A, B, C]) => {
        if (A!.ld === k && B!.ld === k && this.native?.accepts(m, n, k, float64, false)) this.native.gemmNT(m, n, k, A!.address, B!.address, C!.address, C!.ld, accumulate, float64);
        else this.run(this.split(m, n, k).map((p, i) => this.gemmTask(p, k, A!, B!, C!, accumulate, float64, i)));
      },
    );
  }

  softmaxCausal(scores: Float32Array, offset: number, rows: number, cols: number, scale: number, first: number): void {
    const at = this.memory.addressOf(scores);
    if (at === undefined) return this.reference.softmaxCausal(scores, offset, rows, cols, scale, first);
    this.exports.softmax_causal(at + 4 * offset, rows, cols, scale, first);
  }

  swiglu(gate: Float32Array, up: Float32Array, count: number): void {
    const g = this.memory.addressOf(gate);
    const u = this.memory.addressOf(up);
    if (g === undefined || u === undefined) return this.reference.swiglu(gate, up, count);
    this.exports.swiglu(g, u, count);
  }

  /** The row kernels' exports (row-ops-module.ts, activation-rounding-module.ts). */
  private get rowOps(): RowOpExports & ActivationRoundingExports {
    return this.exports as unknown as RowOpExports & ActivationRoundingExports;
  }

  rmsNorm(x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): void {
    const [xa, wa, oa] = [this.memory.addressOf(x), this.memory.addressOf(weight), this.memory.addressOf(out)];
    if (xa === undefined || wa === undefined || oa === undefined) return this.reference.rmsNorm(x, rows, dim, weight, eps, out);
    this.rowOps.rms_norm(xa, oa, wa, rows, dim, eps);
  }

  rope(x: Float32Array, rows: number, stride: number, heads: RopeHeads, cos: Float32Array, sin: Float32Array): void {
    const [xa, ca, sa] = [this.memory.addressOf(x), this.memory.addressOf(cos), this.memory.addressOf(sin)];
    if (xa === undefined || ca === undefined || sa === undefined) return this.reference.rope(x, rows, stride, heads, cos, sin);
    this.rowOps.rope(xa, rows, stride, heads.count, heads.size, heads.dims / 2, heads.style === "neox" ? 1 : 0, ca, sa);
  }

  addRows(x: Float32Array, rows: number, cols: number, y: Float32Array): void {
    const [xa, ya] = [this.memory.addressOf(x), this.memory.addressOf(y)];
    if (xa === undefined || ya === undefined) return this.reference.addRows(x, rows, cols, y);
    this.rowOps.add_rows(xa, ya, rows, cols);
  }

  roundActivations(format: ActivationFormat, x: Float32Array, out: Float32Array, count: number): void {
    const [xa, oa] = [this.memory.addressOf(x), this.memory.addressOf(out)];
    if (xa === undefined || oa === undefined || count % ACTIVATION_BLOCK[format] !== 0) return this.reference.roundActivations(format, x, out, count);
    const e = this.rowOps;
    if (format === "Q8_0") e.round_q8_0(xa, oa, count / 32);
    else if (format === "Q8_K") e.round_q8_k(xa, oa, count / 256);
    else if (format === "F16") e.round_f16(xa, oa, count);
    else e.round_bf16(xa, oa, count);
  }

  /** Blocked, float64 SIMD over the threads (linalg-f64-blocked.ts); `a` outside the kernels' memory is copied in and back. */
  upperCholeskyOfInverse(a: Float64Array, n: number): boolean {
    return blockedUpperCholeskyOfInverse({ memory: this.memory, threads: this.threads, allocate: (bytes) => this.mustAllocate(bytes), run: (tasks) => this.run(tasks) }, a, n);
  }

  matmul(x: Float32Array, rows: number, w: WeightMatrix, y: Float32Array, accumulation: Accumulation = "float32"): void {
    const { rows: n, cols: k, type } = w;
    if (rows === 0 || n === 0) return;
    const rowBytes = (k / type.blockSize) * type.typeSize;
    const wAddress = this.memory.addressOf(w.data);
    if (type.name === "F32" && wAddress !== undefined && wAddress % 4 === 0) {
      this.gemmNT(rows, n, k, x, 0, k, this.memory.f32(wAddress, n * k), 0, k, y, 0, n, { accumulation });
      return;
    }
    if (wAddress !== undefined) {
      const native = this.native?.accepts(rows, n, k, accumulation === "float64", true);
      this.withOperands(
        [
          { view: x, offset: 0, ld: k, rows, cols: k, input: true },
          { view: y, offset: 0, ld: n, rows, cols: n, input: false, output: true },
        ],
        ([X, Y]) => {
          if (native) return this.nativeMatmul(X!, Y!, rows, w, wAddress, accumulation === "float64");
          const parts = this.split(rows, n, k, true);
          const chunk = Math.min(DECODE_CHUNK_ROWS, Math.max(...parts.map((p) => p.n1 - p.n0)));
          const decoded = parts.map(() => this.mustAllocate(chunk * k * 4));
          try {
            this.run(
              parts.map((p, i): KernelTask => ({
                kind: "decode-gemm",
                type: type.name,
                m: p.m1 - p.m0,
                n: p.n1 - p.n0,
                k,
                a: X!.address + 4 * p.m0 * X!.ld,
                lda: X!.ld,
                w: wAddress + p.n0 * rowBytes,
                rowBytes,
                c: Y!.address + 4 * (p.m0 * Y!.ld + p.n0),
                ldc: Y!.ld,
                accumulate: false,
                float64: accumulation === "float64",
                scratch: this.scratch[i]!,
                decoded: decoded[i]!,
                chunkRows: chunk,
              })),
            );
          } finally {
            for (const d of decoded) this.memory.release(d);
          }
        },
      );
      return;
    }
    // Weights outside the kernels' memory: decode blocks of rows here, multiply each block on every thread.
    const block = Math.min(n, Math.max(4 * this.threads, Math.floor(OUTSIDE_BLOCK_VALUES / k / 4) * 4));
    const buffer = this.mustAllocate(block * k * 4);
    try {
      for (let first = 0; first < n; first += block) {
        const count = Math.min(block, n - first);
        const values = this.memory.f32(buffer, count * k);
        toFloat32(w.data.subarray(first * rowBytes, (first + count) * rowBytes), type, count * k, values);
        this.gemmNT(rows, count, k, x, 0, k, values, 0, k, y, first, n, { accumulation });
      }
    } finally {
      this.memory.release(buffer);
    }
  }

  /**
   * X · Wᵀ on the native GEMM for an encoded W in the kernels' memory: blocks of W's rows are decoded to float32
   * on every thread, then multiplied natively into their columns of Y.
   */
  private nativeMatmul(X: Operand, Y: Operand, rows: number, w: WeightMatrix, wAddress: number, float64: boolean): void {
    const { rows: n, cols: k, type } = w;
    const rowBytes = (k / type.blockSize) * type.typeSize;
    const block = Math.min(n, Math.max(1, Math.floor(NATIVE_DECODE_VALUES / k)));
    const decoded = this.mustAllocate(block * k * 4);
    try {
      for (let first = 0; first < n; first += block) {
        const count = Math.min(block, n - first);
        const parts = this.split(1, count, k, true);
        this.run(parts.map((p) => ({ kind: "decode", type: type.name, src: wAddress + (first + p.n0) * rowBytes, dst: decoded + 4 * p.n0 * k, count: (p.n1 - p.n0) * k })));
        this.native!.gemmNT(rows, count, k, X.address, decoded, Y.address + 4 * first, Y.ld, false, float64);
      }
    } finally {
      this.memory.release(decoded);
    }
  }

  /**
   * Resolves each operand to an address in the kernels' memory, copying in those that are elsewhere (and
   * copying outputs back afterwards).
   */
  private withOperands(
    operands: { view: Float32Array; offset: number; ld: number; rows: number; cols: number; input: boolean; output?: boolean }[],
    body: (resolved: Operand[]) => void,
  ): void {
    const copies: { index: number; address: number }[] = [];
    const resolved: Operand[] = operands.map((o, index) => {
      const base = this.memory.addressOf(o.view);
      if (base !== undefined) return { address: base + 4 * o.offset, ld: o.ld };
      const address = this.mustAllocate(o.rows * o.cols * 4);
      copies.push({ index, address });
      return { address, ld: o.cols };
    });
    try {
      // Views are made after every allocation: growing an unshared memory detaches its old buffer.
      for (const { index, address } of copies) {
        const o = operands[index]!;
        if (!o.input) continue;
        const dst = this.memory.f32(address, o.rows * o.cols);
        if (o.ld === o.cols) dst.set(o.view.subarray(o.offset, o.offset + o.rows * o.cols));
        else for (let r = 0; r < o.rows; r++) dst.set(o.view.subarray(o.offset + r * o.ld, o.offset + r * o.ld + o.cols), r * o.cols);
      }
      body(resolved);
      for (const { index, address } of copies) {
        const o = operands[index]!;
        if (!o.output) continue;
        const src = this.memory.f32(address, o.rows * o.cols);
        if (o.ld === o.cols) o.view.set(src, o.offset);
        else for (let r = 0; r < o.rows; r++) o.view.set(src.subarray(r * o.cols, (r + 1) * o.cols), o.offset + r * o.ld);
      }
    } finally {
      for (const { address } of copies) this.memory.release(address);
    }
  }

  /**
   * One part per thread: runs of output columns (B's rows, multiples of 4) when there are enough, else runs of
   * rows. `decoding` counts the decode work too (it happens even for one row of A).
   */
  private split(m: number, n: number, k: number, decoding = false): Part[] {
    const t = this.threads;
    const work = (decoding ? m + 16 : m) * n * k;
    if (t === 1 || work < PARALLEL_MIN_MACS) return [{ m0: 0, m1: m, n0: 0, n1: n }];
    const cuts = (length: number, unit: number) => {
      const step = Math.ceil(length / t / unit) * unit;
      const parts: [number, number][] = [];
      for (let s = 0; s < length; s += step) parts.push([s, Math.min(length, s + step)]);
      return parts;
    };
    if (n >= 8 * t || decoding) return cuts(n, 4).map(([n0, n1]) => ({ m0: 0, m1: m, n0, n1 }));
    if (m >= 2 * t) return cuts(m, 2).map(([m0, m1]) => ({ m0, m1, n0: 0, n1: n }));
    return [{ m0: 0, m1: m, n0: 0, n1: n }];
  }

  private gemmTask(p: Part, k: number, A: Operand, B: Operand, C: Operand, accumulate: boolean, float64: boolean, thread: number): KernelTask {
    return {
      kind: "gemm",
      m: p.m1 - p.m0,
      n: p.n1 - p.n0,
      k,
      a: A.address + 4 * p.m0 * A.ld,
      lda: A.ld,
      b: B.address + 4 * p.n0 * B.ld,
      ldb: B.ld,
      c: C.address + 4 * (p.m0 * C.ld + p.n0),
      ldc: C.ld,
      accumulate,
      float64,
      scratch: this.scratch[thread]!,
    };
  }

  /** Task 0 on this thread, the others on workers; returns when all are done. */
  private run(tasks: KernelTask[]): void {
    if (tasks.length === 1) {
      runKernelTask(this.exports, this.memory.memory, tasks[0]!);
      return;
    }
    const others = this.executor!.start(tasks.slice(1));
    let error: unknown;
    try {
      runKernelTask(this.exports, this.memory.memory, tasks[0]!);
    } catch (e) {
      error = e;
    }
    others.wait();
    if (error !== undefined) throw error;
  }
}
