/**
 * The kernel layer the engine and the methods call for their matrix work. Two implementations:
 *  - ReferenceKernels: plain JavaScript, float64 accumulation (matmul.ts's gemmNT); the scalar reference every
 *    fast path is tested against, and the fallback where WebAssembly SIMD is missing;
 *  - WasmKernels (wasm-kernels.ts): generated WebAssembly SIMD, optionally over worker threads.
 * createKernels picks the best available one.
 */
import type { TensorTypeInfo } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import { gemmNT } from "./matmul.js";
import { roundActivationsReference } from "./activation-rounding.js";
import type { ActivationFormat } from "./activation-rounding.js";
import { addRows, rmsNormRows, ropeRows, softmaxInPlace, swigluInPlace } from "./vector-ops.js";
import type { RopeHeads } from "./vector-ops.js";
import { upperCholeskyOfInverseInPlace } from "./linalg-f64.js";

/** A weight matrix [rows × cols] as stored: rows of `type` (F32 values, F16, or ggml blocks), row-major. */
export interface WeightMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly type: TensorTypeInfo;
  readonly data: Uint8Array;
}

export interface GemmOptions {
  /** Add the product to C instead of overwriting it. */
  accumulate?: boolean;
  /** Accumulation precision (default "float32"; the reference kernels always use float64). */
  accumulation?: Accumulation;
}

/**
 * "float32": four float32 lanes, as llama.cpp's float dot products (F32, F16 weights). "float64": float64
 * lanes over exact float32 products, where llama.cpp's dot products are exact integer sums (8-bit activations
 * against quantized weights), which float32 sums would not reproduce closely enough.
 */
export type Accumulation = "float32" | "float64";

export interface Kernels {
  /** What runs, e.g. "wasm relaxed-simd, 2 threads". */
  readonly description: string;
  readonly threads: number;
  /**
   * C = A · Bᵀ for A [m × k] and B [n × k], into C [m × n] (overwriting, or adding with `accumulate`). Leading
   * dimensions (row strides) and offsets address sub-matrices, as in matmul.ts's gemmNT.
   */
  gemmNT(
    m: number, n: number, k: number,
    a: Float32Array, aOff: number, lda: number,
    b: Float32Array, bOff: number, ldb: number,
    c: Float32Array, cOff: number, ldc: number,
    options?: GemmOptions,
  ): void;
  /** y [rows × W.rows] = x [rows × W.cols] · Wᵀ, decoding W's rows from their type on the fly. */
  matmul(x: Float32Array, rows: number, w: WeightMatrix, y: Float32Array, accumulation?: Accumulation): void;
  /**
   * Attention's softmax over `rows` rows of `cols` scores at `offset`, in place: row r keeps its first
   * first + r + 1 entries (at most cols) as softmax(scale · x) and the rest become 0 (vector-ops.ts's
   * softmaxInPlace per row).
   */
  softmaxCausal(scores: Float32Array, offset: number, rows: number, cols: number, scale: number, first: number): void;
  /** gate[i] = silu(gate[i]) · up[i] for i < count (vector-ops.ts's swigluInPlace). */
  swiglu(gate: Float32Array, up: Float32Array, count: number): void;
  /**
   * RMSNorm of `rows` rows of `dim` values into out (may be x) with llama.cpp's arithmetic (vector-ops.ts's
   * rmsNormRows).
   */
  rmsNorm(x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): void;
  /** RoPE: rotates the heads of `rows` rows of x (row stride `stride`) in place (vector-ops.ts's ropeRows). */
  rope(x: Float32Array, rows: number, stride: number, heads: RopeHeads, cos: Float32Array, sin: Float32Array): void;
  /** x [rows × cols] += y [cols] in every row (vector-ops.ts's addRows). */
  addRows(x: Float32Array, rows: number, cols: number, y: Float32Array): void;
  /**
   * Rounds `count` activations (a multiple of the format's block) from x into out (may be x) to the values
   * llama.cpp's dot products see in `format` (activation-rounding.ts).
   */
  roundActivations(format: ActivationFormat, x: Float32Array, out: Float32Array, count: number): void;
  /**
   * GPTQ's inverse-Hessian factor, in place: the upper-triangular U with Uᵀ·U = A⁻¹ for the symmetric positive
   * definite n × n row-major float64 `a`; false (and `a` partly overwritten or unchanged) when A is not
   * (numerically) positive definite. linalg-f64.ts's upperCholeskyOfInverseInPlace is the reference.
   */
  upperCholeskyOfInverse(a: Float64Array, n: number): boolean;
  /**
   * A zeroed float32 buffer the kernels read and write without copying. Its memory is given back by release,
   * or when the returned view is garbage-collected: hold that very view (views made from it do not count)
   * for as long as the memory is used.
   */
  allocate(count: number): Float32Array;
  /** `bytes` copied where the kernels use them in place (e.g. a weight's rows), or `bytes` itself; as allocate. */
  place(bytes: Uint8Array): Uint8Array;
  /** Gives back a buffer from allocate or place (others are ignored). */
  release(view: ArrayBufferView): void;
  /** Stops worker threads the kernels started (not a pool they were given). */
  close(): Promise<void>;
}

/** Values decoded at a time by the reference matmul: small enough to stay in L2 while every row of x passes. */
const REFERENCE_BLOCK_VALUES = 32 * 1024;

/** Plain JavaScript kernels, one thread, float64 accumulation. */
export class ReferenceKernels implements Kernels {
  readonly description = "javascript reference";
  readonly threads = 1;
  private scratch = new Float32Array(0);

  gemmNT(
    m: number, n: number, k: number,
    a: Float32Array, aOff: number, lda: number,
    b: Float32Array, bOff: number, ldb: number,
    c: Float32Array, cOff: number, ldc: number,
    options: GemmOptions = {},
  ): void {
    if (!options.accumulate) {
      gemmNT(m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
      return;
    }
    const t = new Float32Array(m * n);
    gemmNT(m, n, k, a, aOff, lda, b, bOff, ldb, t, 0, n);
    for (let r = 0; r < m; r++) for (let j = 0; j < n; j++) c[cOff + r * ldc + j] = c[cOff + r * ldc + j]! + t[r * n + j]!;
  }

  matmul(x: Float32Array, rows: number, w: WeightMatrix, y: Float32Array): void {
    const { cols, type } = w;
    const rowBytes = (cols / type.blockSize) * type.typeSize;
    if (type.name === "F32" && w.data.byteOffset % 4 === 0) {
      const values = new Float32Array(w.data.buffer, w.data.byteOffset, w.rows * cols);
      gemmNT(rows, w.rows, cols, x, 0, cols, values, 0, cols, y, 0, w.rows);
      return;
    }
    const block = Math.max(4, Math.floor(REFERENCE_BLOCK_VALUES / cols / 4) * 4);
    if (this.scratch.length < block * cols) this.scratch = new Float32Array(block * cols);
    for (let first = 0; first < w.rows; first += block) {
      const count = Math.min(block, w.rows - first);
      toFloat32(w.data.subarray(first * rowBytes, (first + count) * rowBytes), type, count * cols, this.scratch);
      gemmNT(rows, count, cols, x, 0, cols, this.scratch, 0, cols, y, first, w.rows);
    }
  }

  softmaxCausal(scores: Float32Array, offset: number, rows: number, cols: number, scale: number, first: number): void {
    for (let r = 0; r < rows; r++) softmaxInPlace(scores, offset + r * cols, cols, scale, Math.min(cols, first + r + 1));
  }

  swiglu(gate: Float32Array, up: Float32Array, count: number): void {
    swigluInPlace(gate, up, count);
  }

  rmsNorm(x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): void {
    rmsNormRows(x, rows, dim, weight, eps, out);
  }

  rope(x: Float32Array, rows: number, stride: number, heads: RopeHeads, cos: Float32Array, sin: Float32Array): void {
    ropeRows(x, rows, stride, heads, cos, sin);
  }

  addRows(x: Float32Array, rows: number, cols: number, y: Float32Array): void {
    addRows(x, rows, cols, y);
  }

  roundActivations(format: ActivationFormat, x: Float32Array, out: Float32Array, count: number): void {
    roundActivationsReference(format, x, out, count);
  }

  upperCholeskyOfInverse(a: Float64Array, n: number): boolean {
    return upperCholeskyOfInverseInPlace(a, n);
  }

  allocate(count: number): Float32Array {
    return new Float32Array(count);
  }

  place(bytes: Uint8Array): Uint8Array {
    return bytes;
  }

  release(): void {}

  async close(): Promise<void> {}
}
