/**
 * GPTQ's inverse-Hessian factor (linalg-f64.ts's upperCholeskyOfInverseInPlace: the same reversal, Cholesky
 * and lower-triangular inverse) blocked for the WebAssembly kernels, where nearly all of its 2/3·n³ flops are
 * float64 SIMD products (wasm/linalg-f64-module.ts's gemm_f64) split over the threads:
 *  - Cholesky, right-looking by panels of NB columns: the NB × NB diagonal block is factored and inverted by
 *    linalg-f64.ts (on this thread; n·NB² flops in all); the panel below it is A21 · L11⁻ᵀ (rows split over
 *    threads); the trailing lower triangle is updated A22 −= L21 · L21ᵀ (rows split by equal work);
 *  - the inverse X = L⁻¹ by block rows of NB, top to bottom, in place: X_I = −X_II · (L_I · X_above), the
 *    inner product triangular (X_above is lower triangular), split by columns of equal work.
 * Every element is computed the same way whichever thread has it, so results do not depend on the thread
 * count. They differ from the scalar reference by rounding only (different summation order, fused
 * multiply-adds).
 */
import { choleskyInPlace, invertLowerTriangularInPlace } from "./linalg-f64.js";
import type { KernelMemory } from "./kernel-memory.js";
import type { KernelTask } from "./kernel-tasks.js";
import { TRIANGULAR_KC } from "./linalg-f64-tasks.js";
import type { GemmF64Task } from "./linalg-f64-tasks.js";
import { F64_LOWER, F64_OVERWRITE, F64_SUB } from "./wasm/linalg-f64-module.js";

/** Panel and block-row width (a multiple of 4). */
const NB = 128;
/** Below this many multiply-adds a step runs on the calling thread alone. */
const PARALLEL_MIN_MACS = 1 << 21;

/** What the factorisation needs from WasmKernels. */
export interface F64KernelHost {
  readonly memory: KernelMemory;
  readonly threads: number;
  /** An address of `bytes` bytes in the kernels' memory (throws when it is full); given back by memory.release. */
  allocate(bytes: number): number;
  /** tasks[0] on this thread, the others on workers; returns when all are done. */
  run(tasks: KernelTask[]): void;
}

/**
 * [0, length) cut into `parts` runs whose ends are multiples of 4 (except `length`), at position(t / parts):
 * the position where a fraction t / parts of the work is done.
 */
function split(length: number, parts: number, position: (fraction: number) => number): [number, number][] {
  const points = [0];
  for (let t = 1; t < parts; t++) points.push(Math.min(length, Math.max(points[t - 1]!, Math.round(position(t / parts) / 4) * 4)));
  points.push(length);
  const runs: [number, number][] = [];
  for (let t = 0; t < parts; t++) if (points[t + 1]! > points[t]!) runs.push([points[t]!, points[t + 1]!]);
  return runs;
}

const gemm = (...args: GemmF64Task["args"]): GemmF64Task => ({ kind: "gemm-f64", args });

/** Rows of src (row r at offset + r·ld, k values) as strips of 4 rows: dst[(s·k + p)·4 + q] = row 4s+q, value p (zero past `rows`). */
function packRowsAsStrips(src: Float64Array, offset: number, ld: number, rows: number, k: number, dst: Float64Array): void {
  for (let s = 0; 4 * s < rows; s++) {
    for (let q = 0; q < 4; q++) {
      const r = 4 * s + q;
      const from = offset + r * ld;
      for (let p = 0; p < k; p++) dst[(s * k + p) * 4 + q] = r < rows ? src[from + p]! : 0;
    }
  }
}

/** The nb × nb block of x (ld n) at (r0, r0), copied out. */
function diagonalBlock(x: Float64Array, n: number, r0: number, nb: number): Float64Array {
  const d = new Float64Array(nb * nb);
  for (let r = 0; r < nb; r++) d.set(x.subarray((r0 + r) * n + r0, (r0 + r) * n + r0 + nb), r * nb);
  return d;
}

function putDiagonalBlock(x: Float64Array, n: number, r0: number, nb: number, d: Float64Array): void {
  for (let r = 0; r < nb; r++) x.set(d.subarray(r * nb, (r + 1) * nb), (r0 + r) * n + r0);
}

export function blockedUpperCholeskyOfInverse(host: F64KernelHost, a: Float64Array, n: number): boolean {
  if (n === 0) return true;
  const { memory } = host;
  const outside = memory.addressOf(a) === undefined;
  const owned: number[] = [];
  const take = (values: number) => {
    const address = host.allocate(8 * values);
    owned.push(address);
    return address;
  };
  try {
    const base = outside ? take(n * n) : memory.addressOf(a)!;
    const panel = take(NB * n);
    const strips = take(NB * (n + 4));
    const inverse11 = take(NB * NB);
    const t = take(NB * (n + 4));
    const xii = take(NB * NB);
    const packed = take(TRIANGULAR_KC * (n + 4));
    // Views only after every allocation: growing an unshared memory detaches its old buffer.
    const view = (address: number, count: number) => new Float64Array(memory.memory.buffer, address, count);
    const x = view(base, n * n);
    if (outside) x.set(a.subarray(0, n * n));
    x.reverse();
    const parts = (macs: number) => (macs >= PARALLEL_MIN_MACS ? host.threads : 1);
    const even = (length: number) => (f: number) => f * length;

    for (let j0 = 0; j0 < n; j0 += NB) {
      const nb = Math.min(NB, n - j0);
      const r2 = j0 + nb;
      const m2 = n - r2;
      const d = diagonalBlock(x, n, j0, nb);
      if (!choleskyInPlace(d, nb)) return false;
      putDiagonalBlock(x, n, j0, nb, d);
      if (m2 === 0) break;
      invertLowerTriangularInPlace(d, nb);
      packRowsAsStrips(d, 0, nb, nb, nb, view(inverse11, nb * nb));
      const p = view(panel, m2 * nb);
      for (let r = 0; r < m2; r++) p.set(x.subarray((r2 + r) * n + j0, (r2 + r) * n + j0 + nb), r * nb);
      // L21 = A21 · L11⁻ᵀ.
      host.run(
        split(m2, parts(m2 * nb * nb), even(m2)).map(([r0, r1]) =>
          gemm(r1 - r0, nb, nb, panel + 8 * r0 * nb, nb, inverse11, 4, 4 * nb, base + 8 * ((r2 + r0) * n + j0), n, 4, F64_OVERWRITE, 0),
        ),
      );
      packRowsAsStrips(x, r2 * n + j0, n, m2, nb, view(strips, nb * Math.ceil(m2 / 4) * 4));
      // A22 −= L21 · L21ᵀ on the lower triangle; row r costs ∝ r, so cuts at length·√fraction.
      host.run(
        split(m2, parts((m2 * m2 * nb) / 2), (f) => m2 * Math.sqrt(f)).map(([r0, r1]) =>
          gemm(r1 - r0, r1, nb, base + 8 * ((r2 + r0) * n + j0), n, strips, 4, 4 * nb, base + 8 * ((r2 + r0) * n + r2), n, 4, F64_SUB | F64_LOWER, -r0),
        ),
      );
    }
    // The updates leave values above the diagonal near it; L's strict upper triangle is zero.
    for (let i = 0; i < n; i++) x.fill(0, i * n + i + 1, (i + 1) * n);

    for (let i0 = 0; i0 < n; i0 += NB) {
      const nb = Math.min(NB, n - i0);
      const d = diagonalBlock(x, n, i0, nb);
      invertLowerTriangularInPlace(d, nb);
      if (i0 > 0) {
        // T = −L_I · X_above (column c costs ∝ i0 − c), then X_I = X_II · T.
        host.run(
          split(i0, parts((nb * i0 * i0) / 2), (f) => i0 * (1 - Math.sqrt(1 - f))).map(([j0, j1]) => ({
            kind: "f64-triangular-product" as const,
            m: nb,
            kTotal: i0,
            l: base + 8 * i0 * n,
            x: base,
            ld: n,
            j0,
            j1,
            packed,
            t,
          })),
        );
        view(xii, nb * nb).set(d);
        host.run(
          split(i0, parts(nb * nb * i0), even(i0)).map(([j0, j1]) =>
            gemm(nb, j1 - j0, nb, xii, nb, t + 8 * j0 * nb, 4, 4 * nb, base + 8 * (i0 * n + j0), n, 4, F64_OVERWRITE, 0),
          ),
        );
      }
      putDiagonalBlock(x, n, i0, nb, d);
    }
    x.reverse();
    if (outside) a.set(x);
    return true;
  } finally {
    for (const address of owned) memory.release(address);
  }
}
