/**
 * Float64 matrix products for the blocked factorisations of linalg-f64-blocked.ts (GPTQ's inverse-Hessian
 * factor), generated with wasm-emitter.ts.
 *
 * gemm_f64(m, n, k, a, lda, b, ldb, bStrip, c, ldc, cStrip, flags, shift): C [m × n] ± A [m × k] · B [k × n].
 * A is row-major (element (i, p) at a + 8·(i·lda + p)). B and C are stored in strips of 4 columns: element
 * (p, j) of B at b + 8·((j ÷ 4)·bStrip + p·ldb + j mod 4), likewise C with ldc and cStrip; a plain row-major
 * matrix is the case strip = 4, and a packed one (each strip's k × 4 values contiguous) ld = 4, strip = 4k.
 * Flags: F64_SUB (subtract the product instead of adding it), F64_OVERWRITE (C's old values count as 0),
 * F64_LOWER (only 4 × 4 tiles holding an element with global column ≤ global row, where the global column of
 * local (i, j) minus its global row is j − i + shift; the others are left alone), F64_SKIP_ZERO_ROWS (B's rows
 * p < j + shift are zero for column j: the sum starts there — a triangular B).
 *
 * Arithmetic of one element, the same wherever it sits in a tile or which thread computes it (so results do
 * not depend on the thread split): a float64 lane accumulates a[i][p]·b[p][j] for p in order by multiply-add
 * (fused where relaxed SIMD has it), then C = old ± sum. Register tile: 4 rows × 4 columns, 8 two-lane
 * accumulators; per p one splat of A per row and two vector loads of B.
 *
 * pack_cols(src, lds, rows, cols, dst, dstStrip): the row-major [rows × cols] block at src (cols a multiple of
 * 4) copied into strips of 4 columns at dst (strip s at dst + 8·s·dstStrip, its rows 32 bytes apart).
 */
import { FunctionBuilder, f64, f64x2, f32x4, i32 } from "./wasm-emitter.js";
import type { Expr, Local } from "./wasm-emitter.js";

export const F64_SUB = 1;
export const F64_OVERWRITE = 2;
export const F64_LOWER = 4;
export const F64_SKIP_ZERO_ROWS = 8;

/** Rows of a register tile. */
const TILE_ROWS = 4;
/** Rows of A per block: 64 rows of up to 256 values (128 KiB) stay in L2 while the strips of B pass. */
const ROW_BLOCK = 16 * TILE_ROWS;

export interface LinalgF64Exports {
  gemm_f64(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, bStrip: number, c: number, ldc: number, cStrip: number, flags: number, shift: number): void;
  pack_cols(src: number, lds: number, rows: number, cols: number, dst: number, dstStrip: number): void;
}

type Madd = (a: Expr, b: Expr, c: Expr) => Expr;

const locals = <T>(n: number, make: () => T): T[] => Array.from({ length: n }, make);

/** tile_f64(a, ldaB, b, ldbB, c, ldcB, k, rows, cols, flags): one tile, byte strides, at most 4 × 4 stored. */
function tileFunction(madd: Madd): FunctionBuilder {
  const f = new FunctionBuilder("tile_f64", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [a, lda, b, ldb, c, ldc, k, rows, cols, flags] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const aRow = locals(TILE_ROWS, () => f.local("i32"));
  const p = f.local("i32");
  const acc = locals(TILE_ROWS, () => locals(2, () => f.local("v128")));
  const b0 = f.local("v128");
  const b1 = f.local("v128");
  const av = f.local("v128");
  // Rows past `rows` re-read row 0 (valid memory) and are not stored.
  aRow.forEach((r, i) => {
    if (i === 0) f.set(r, a.get());
    else f.ifThen(i32.ltS(i32.const(i), rows.get()), () => f.set(r, i32.add(aRow[i - 1]!.get(), lda.get())), () => f.set(r, a.get()));
  });
  for (const row of acc) for (const x of row) f.set(x, f32x4.zero());
  f.forRange(p, i32.const(0), k.get(), i32.const(1), () => {
    f.set(b0, f32x4.load(b.get()));
    f.set(b1, f32x4.load(b.get(), 16));
    aRow.forEach((r, i) => {
      f.set(av, f64x2.loadSplat(r.get()));
      f.set(acc[i]![0]!, madd(av.get(), b0.get(), acc[i]![0]!.get()));
      f.set(acc[i]![1]!, madd(av.get(), b1.get(), acc[i]![1]!.get()));
      f.set(r, i32.add(r.get(), i32.const(8)));
    });
    f.set(b, i32.add(b.get(), ldb.get()));
  });
  // C = old ± acc, old = 0 when overwriting.
  const sub = f.local("i32");
  const over = f.local("i32");
  const row = f.local("i32");
  const old = f.local("v128");
  f.set(sub, i32.and(flags.get(), i32.const(F64_SUB)));
  f.set(over, i32.and(flags.get(), i32.const(F64_OVERWRITE)));
  const combine = (v: Local, s: Local) => f.ifThen(sub.get(), () => f.set(v, f64x2.sub(v.get(), s.get())), () => f.set(v, f64x2.add(v.get(), s.get())));
  acc.forEach((pair, i) => {
    f.ifThen(i32.ltS(i32.const(i), rows.get()), () => {
      f.set(row, i === 0 ? c.get() : i32.add(c.get(), i32.mul(ldc.get(), i32.const(i))));
      pair.forEach((s, v) => {
        f.ifThen(
          i32.geS(cols.get(), i32.const(2 * v + 2)),
          () => {
            f.ifThen(over.get(), () => f.set(old, f32x4.zero()), () => f.set(old, f32x4.load(row.get(), 16 * v)));
            combine(old, s);
            f.v128Store(row.get(), old.get(), 16 * v);
          },
          () =>
            f.ifThen(i32.eq(cols.get(), i32.const(2 * v + 1)), () => {
              f.ifThen(over.get(), () => f.set(old, f32x4.zero()), () => f.set(old, f64x2.splat(f64.load(row.get(), 16 * v))));
              combine(old, s);
              f.f64Store(row.get(), f64x2.extractLane(old.get(), 0), 16 * v);
            }),
        );
      });
    });
  });
  return f;
}

function gemmFunction(tileIndex: number): FunctionBuilder {
  const f = new FunctionBuilder("gemm_f64", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [m, n, k, a, lda, b, ldb, bStrip, c, ldc, cStrip, flags, shift] = f.params as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const [i0, iEnd, j, i, kStart, bt, ct, cols, lower] = locals(9, () => f.local("i32")) as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const bytes = (e: Expr) => i32.shl(e, i32.const(3));
  f.set(lower, i32.and(flags.get(), i32.const(F64_LOWER)));
  f.forRange(i0, i32.const(0), m.get(), i32.const(ROW_BLOCK), () => {
    f.set(iEnd, i32.minS(m.get(), i32.add(i0.get(), i32.const(ROW_BLOCK))));
    f.forRange(j, i32.const(0), n.get(), i32.const(4), () => {
      f.set(kStart, i32.const(0));
      f.ifThen(i32.and(flags.get(), i32.const(F64_SKIP_ZERO_ROWS)), () =>
        f.set(kStart, i32.minS(k.get(), maxS(i32.add(j.get(), shift.get()), i32.const(0)))),
      );
      f.set(cols, i32.minS(i32.const(4), i32.sub(n.get(), j.get())));
      const strip = i32.shrU(j.get(), i32.const(2));
      f.set(bt, i32.add(b.get(), bytes(i32.add(i32.mul(strip, bStrip.get()), i32.mul(kStart.get(), ldb.get())))));
      f.set(ct, i32.add(c.get(), bytes(i32.mul(i32.shrU(j.get(), i32.const(2)), cStrip.get()))));
      f.forRange(i, i0.get(), iEnd.get(), i32.const(TILE_ROWS), () => {
        const below = i32.leS(i32.add(j.get(), shift.get()), i32.add(i.get(), i32.const(TILE_ROWS - 1)));
        f.ifThen(i32.or(i32.eqz(lower.get()), below), () =>
          f.call(tileIndex, [
            i32.add(a.get(), bytes(i32.add(i32.mul(i.get(), lda.get()), kStart.get()))),
            bytes(lda.get()),
            bt.get(),
            bytes(ldb.get()),
            i32.add(ct.get(), bytes(i32.mul(i.get(), ldc.get()))),
            bytes(ldc.get()),
            i32.sub(k.get(), kStart.get()),
            i32.minS(i32.const(TILE_ROWS), i32.sub(iEnd.get(), i.get())),
            cols.get(),
            flags.get(),
          ]),
        );
      });
    });
  });
  return f;
}

/** The larger of two signed values; both expressions are evaluated twice (pass cheap ones). */
function maxS(a: Expr, b: Expr): Expr {
  return i32.sub(i32.add(a, b), i32.minS(a, b));
}

function packColsFunction(): FunctionBuilder {
  const f = new FunctionBuilder("pack_cols", ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, lds, rows, cols, dst, dstStrip] = f.params as [Local, Local, Local, Local, Local, Local];
  const [s, p, from, to] = locals(4, () => f.local("i32")) as [Local, Local, Local, Local];
  f.forRange(s, i32.const(0), cols.get(), i32.const(4), () => {
    f.set(from, i32.add(src.get(), i32.shl(s.get(), i32.const(3))));
    f.set(to, i32.add(dst.get(), i32.shl(i32.mul(i32.shrU(s.get(), i32.const(2)), dstStrip.get()), i32.const(3))));
    f.forRange(p, i32.const(0), rows.get(), i32.const(1), () => {
      f.v128Store(to.get(), f32x4.load(from.get()));
      f.v128Store(to.get(), f32x4.load(from.get(), 16), 16);
      f.set(from, i32.add(from.get(), i32.shl(lds.get(), i32.const(3))));
      f.set(to, i32.add(to.get(), i32.const(32)));
    });
  });
  return f;
}

/** The functions, to be placed in the module from index `first` on (gemm_f64 calls tile_f64 by index). */
export function linalgF64Functions(relaxed: boolean, first: number): FunctionBuilder[] {
  const madd: Madd = relaxed ? f64x2.relaxedMadd : (x, y, z) => f64x2.add(f64x2.mul(x, y), z);
  return [tileFunction(madd), gemmFunction(first), packColsFunction()];
}
