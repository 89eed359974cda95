/**
 * The native GEMM of bitsmith's own addon (native/gemm.c, built by `npm install` with node-gyp where a C compiler
 * is present; `npm run build:native` rebuilds it): AVX2/FMA register tiles on x86-64, portable C elsewhere, its
 * own threads (one per requested thread, the calling one included, each a run of whole column panels), sums in
 * float32 or (quantized weights) in float64 over exact products. It reads and writes the WebAssembly kernels'
 * shared memory in place, so unlike onnxruntime-node (which refuses SharedArrayBuffer tensors) nothing is copied. Each output element's arithmetic does not depend on the thread
 * count or the tile it falls in (see native/gemm.c), so every thread count gives the same bits.
 */
import { createRequire } from "node:module";
import { checkThreadCount } from "../core/index.js";
import type { NativeGemm } from "../kernels/native-gemm.js";

/** The addon's exports. */
export interface NativeAddon {
  /** C (+)= A · Bᵀ over `view`; a, b, c are indices into it, leading dimensions in values; float64: float64 sums. */
  gemmNT(view: Float32Array, m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, accumulate: boolean, threads: number, float64: boolean): void;
  /** What the build computes with: "avx2+fma" or "portable c". */
  features(): string;
}

/** Where node-gyp puts the addon, from dist/src/node (and src/node) of the package. */
const ADDON_PATH = "../../../build/Release/bitsmith_native.node";

/** The addon once looked for: null when it could not be loaded. */
let loaded: NativeAddon | null | undefined;

/** The addon, or undefined when it was not built (no C compiler at install) or does not load here. */
export function loadNativeAddon(): NativeAddon | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * Smallest product worth the addon's packed path: below it WebAssembly is as fast. Measured on 2048 × 2048
 * weights, 1 thread: at 8 rows the addon and WebAssembly are even, from 16 rows the addon leads.
 */
const MIN_ROWS = 16;
const MIN_MACS = 1 << 20;
/**
 * GEMV (up to this many rows, float32 sums, B already float32 in memory): the addon's direct path reads B once at
 * the memory's speed. Weights decoded for the call stay on WebAssembly, which decodes and multiplies a chunk at a
 * time in cache.
 */
const DIRECT_ROWS = 3;
const MIN_DIRECT_VALUES = 1 << 20;

export class AddonGemm implements NativeGemm {
  readonly description: string;
  private memory: WebAssembly.Memory | undefined;

  constructor(
    readonly threads: number,
    private readonly addon: NativeAddon,
  ) {
    checkThreadCount(threads);
    this.description = `bitsmith native ${addon.features()}, ${threads} thread${threads > 1 ? "s" : ""}`;
  }

  async prepare(memory: WebAssembly.Memory): Promise<void> {
    this.memory = memory;
  }

  accepts(m: number, n: number, k: number, float64: boolean, decoded: boolean): boolean {
    if (m <= DIRECT_ROWS) return !float64 && !decoded && n * k >= MIN_DIRECT_VALUES;
    return m >= MIN_ROWS && m * n * k >= MIN_MACS;
  }

  gemmNT(m: number, n: number, k: number, a: number, b: number, c: number, ldc: number, accumulate: boolean, float64: boolean): void {
    // A view per call: a shared memory that grew has a new, longer buffer.
    const view = new Float32Array(this.memory!.buffer);
    this.addon.gemmNT(view, m, n, k, a / 4, k, b / 4, k, c / 4, ldc, accumulate, this.threads, float64);
  }

  async close(): Promise<void> {}
}
