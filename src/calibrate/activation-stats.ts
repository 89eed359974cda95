/**
 * Statistics of a linear layer's inputs over calibration tokens, accumulated batch by batch so only one
 * batch of activations is ever held: GPTQ's Hessian H = 2·XᵀX / n (float64), and per input channel the mean
 * magnitude (AWQ's s_x) and mean square (llama.cpp's importance matrix, the Hessian's diagonal / 2).
 */
import { BitsmithError } from "../core/index.js";
import { defaultKernels } from "../kernels/index.js";
import type { Kernels } from "../kernels/index.js";

/** Input channels per tile of XᵀX: only tiles on or above the diagonal are computed (H is symmetric). */
const GRAM_TILE = 128;

export class HessianAccumulator {
  /** Σ xᵀx over the tokens seen; upper triangle only until hessian() mirrors it. */
  private readonly sums: Float64Array;
  private tokens = 0;
  private transposed: Float32Array = new Float32Array(0);
  private tile: Float32Array = new Float32Array(0);

  constructor(
    readonly cols: number,
    private readonly kernels: Kernels = defaultKernels(),
  ) {
    this.sums = new Float64Array(cols * cols);
  }

  get count(): number {
    return this.tokens;
  }

  /** Adds `rows` tokens, x [rows × cols] row-major. */
  add(x: Float32Array, rows: number): void {
    const n = this.cols;
    if (x.length < rows * n) throw new BitsmithError(`activation batch holds ${x.length} values, ${rows} × ${n} needed`);
    if (rows === 0) return;
    // XᵀX = (Xᵀ)(Xᵀ)ᵀ: the kernel's A·Bᵀ form on the transposed batch, whose rows are input channels.
    if (this.transposed.length < rows * n) {
      this.kernels.release(this.transposed);
      this.transposed = this.kernels.allocate(rows * n);
    }
    const xt = this.transposed;
    for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) xt[c * rows + r] = x[r * n + c]!;
    if (this.tile.length < GRAM_TILE * n) {
      this.kernels.release(this.tile);
      this.tile = this.kernels.allocate(GRAM_TILE * n);
    }
    for (let r0 = 0; r0 < n; r0 += GRAM_TILE) {
      const m = Math.min(GRAM_TILE, n - r0);
      const width = n - r0;
      // One batch's sums in the kernels' float32 lanes; the batches' sums added in float64.
      this.kernels.gemmNT(m, width, rows, xt, r0 * rows, rows, xt, r0 * rows, rows, this.tile, 0, width);
      for (let i = 0; i < m; i++) {
        const h = (r0 + i) * n + r0;
        const t = i * width;
        for (let j = i; j < width; j++) this.sums[h + j] = this.sums[h + j]! + this.tile[t + j]!;
      }
    }
    this.tokens += rows;
  }

  /** Gives the kernel buffers back (the accumulator takes no more batches; hessian() still works). */
  release(): void {
    this.kernels.release(this.transposed);
    this.kernels.release(this.tile);
    this.transposed = new Float32Array(0);
    this.tile = new Float32Array(0);
  }

  /** H = 2·XᵀX / n as a full symmetric n × n matrix (a new array); all zeros before any token. */
  hessian(): Float64Array {
    const n = this.cols;
    const h = new Float64Array(n * n);
    const f = this.tokens > 0 ? 2 / this.tokens : 0;
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const v = this.sums[i * n + j]! * f;
        h[i * n + j] = v;
        h[j * n + i] = v;
      }
    }
    return h;
  }
}

/** Per input channel: Σ|x| and Σx² over the tokens seen. */
export class ChannelStats {
  readonly sumAbs: Float64Array;
  readonly sumSquares: Float64Array;
  private tokens = 0;

  constructor(readonly cols: number) {
    this.sumAbs = new Float64Array(cols);
    this.sumSquares = new Float64Array(cols);
  }

  get count(): number {
    return this.tokens;
  }

  add(x: Float32Array, rows: number): void {
    const n = this.cols;
    for (let r = 0; r < rows; r++) {
      const o = r * n;
      for (let c = 0; c < n; c++) {
        const v = x[o + c]!;
        this.sumAbs[c] = this.sumAbs[c]! + Math.abs(v);
        this.sumSquares[c] = this.sumSquares[c]! + v * v;
      }
    }
    this.tokens += rows;
  }

  /** Mean |x| per channel (AWQ's activation scale). */
  meanAbs(): Float64Array {
    return this.sumAbs.map((s) => (this.tokens > 0 ? s / this.tokens : 0));
  }

  /** Mean x² per channel: llama.cpp's importance weights (in_sum2 / counts). */
  meanSquares(): Float64Array {
    return this.sumSquares.map((s) => (this.tokens > 0 ? s / this.tokens : 0));
  }
}
