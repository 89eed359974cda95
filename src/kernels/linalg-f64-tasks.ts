/**
 * One thread's share of a blocked float64 factorisation step (linalg-f64-blocked.ts), as plain data for
 * kernel-tasks.ts's runKernelTask. Addresses in bytes, leading dimensions and strips in elements.
 */
import { F64_OVERWRITE, F64_SKIP_ZERO_ROWS, F64_SUB } from "./wasm/linalg-f64-module.js";
import type { LinalgF64Exports } from "./wasm/linalg-f64-module.js";

/** One gemm_f64 call (wasm/linalg-f64-module.ts), its arguments in order. */
export interface GemmF64Task {
  readonly kind: "gemm-f64";
  readonly args: readonly [number, number, number, number, number, number, number, number, number, number, number, number, number];
}

/** Values of k per block of a triangular product: a block of B, packed, is KC rows of 4-column strips. */
export const TRIANGULAR_KC = 256;

/**
 * Columns [j0, j1) of T = −L · X for L [m × kTotal] (row-major at `l`, ld `ld`) and the lower-triangular X
 * [kTotal × kTotal] (row-major at `x`, ld `ld`; its strict upper triangle zero): per block of TRIANGULAR_KC
 * rows of X, this thread's strips of it are packed at `packed` (strip s at packed + 8·s·4·KC) and multiplied,
 * from row j of X on for column j. T is written in strips of 4 columns of m rows at `t` (C of gemm_f64 with
 * ld 4, strip 4m). j0 and j1 are multiples of 4 (or j1 = kTotal).
 */
export interface TriangularProductTask {
  readonly kind: "f64-triangular-product";
  readonly m: number;
  readonly kTotal: number;
  readonly l: number;
  readonly x: number;
  readonly ld: number;
  readonly j0: number;
  readonly j1: number;
  readonly packed: number;
  readonly t: number;
}

export type LinalgF64Task = GemmF64Task | TriangularProductTask;

export function runLinalgF64Task(exports: LinalgF64Exports, task: LinalgF64Task): void {
  if (task.kind === "gemm-f64") {
    exports.gemm_f64(...task.args);
    return;
  }
  const { m, kTotal, l, x, ld, j0, j1, packed, t } = task;
  const KC = TRIANGULAR_KC;
  for (let k0 = 0; k0 < kTotal; k0 += KC) {
    const kb = Math.min(KC, kTotal - k0);
    // The first block writes every column (T's old values are ignored); later ones only reach the columns
    // j < k0 + kb (X[p][j] = 0 for p < j), the rest would subtract exact zeros.
    const reach = k0 === 0 ? j1 - j0 : Math.min(j1 - j0, Math.ceil((k0 + kb - j0) / 4) * 4);
    if (reach <= 0) continue;
    const strips = packed + 8 * j0 * KC;
    exports.pack_cols(x + 8 * (k0 * ld + j0), ld, kb, reach, strips, 4 * KC);
    const flags = F64_SUB | F64_SKIP_ZERO_ROWS | (k0 === 0 ? F64_OVERWRITE : 0);
    exports.gemm_f64(m, reach, kb, l + 8 * k0, ld, strips, 4, 4 * KC, t + 8 * j0 * m, 4, 4 * m, flags, j0 - k0);
  }
}
