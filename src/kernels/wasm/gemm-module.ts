/**
 * The WebAssembly GEMM kernel, generated with wasm-emitter.ts: C = A · Bᵀ (+ C), A [m × k] and B [n × k] with
 * rows contiguous in k (the engine's x · Wᵀ; GEMV is m = 1; XᵀX is this form on Xᵀ).
 *
 * Arithmetic of one output element, the same whatever the shapes, tile position, path or thread split (so
 * every thread count gives bit-identical results): k is cut into blocks of GEMM_KC values starting at 0; a
 * block is padded with zeros to a multiple of 4; four float32 lanes accumulate a[p]·b[p] for p ≡ lane (mod 4)
 * by multiply-add (fused where the runtime has relaxed SIMD and the hardware FMA); the lanes are summed as
 * (l0 + l2) + (l1 + l3); the block's sum is added to C (C starts at 0 unless accumulating). With GEMM_F64 (for
 * llama.cpp's integer dot products) two float64 lanes accumulate the exact products for p ≡ lane (mod 2), the
 * block's sum is l0 + l1, rounded to float32 when added to C.
 *
 * Register tile for packed operands: 6 rows of A × 2 rows of B, 12 accumulators (x64 V8 code has 15 free vector
 * registers: per pass the B pair stays loaded and A's rows come one at a time, 12 + 2 + 1; see
 * packedTileFunction for the orders that spill). Two ways to feed the products, same arithmetic:
 *  - packed (m ≥ PACK_MIN_ROWS): per k block and block of GEMM_NC columns, B's row pairs are interleaved four
 *    values at a time, then per block of GEMM_MC rows A's 6-row panels likewise, so the inner loop walks two
 *    pointers with constant offsets (few instructions per multiply-add; a pair stays in L1 while the panels of
 *    the block of A, in L2, stream past it); float64 products pack the values already promoted (pairs of k per
 *    vector), so their loop has the float32 one's shape;
 *  - direct (fewer rows, e.g. GEMV while generating): rows are read in place, since packing B would cost as
 *    much as the few products made from it.
 */
import { FunctionBuilder, encodeModule, f32, f32x4, f64, f64x2, i32 } from "./wasm-emitter.js";
import type { Expr, Local, MemoryImport } from "./wasm-emitter.js";
import { activationRoundingFunctions } from "./activation-rounding-module.js";
import { decodeFunctions } from "./decode-module.js";
import { rowOpFunctions } from "./row-ops-module.js";
import { linalgF64Functions } from "./linalg-f64-module.js";

/** Rows of A and of B in a packed tile. */
const TILE_ROWS_A = 6;
const TILE_ROWS_B = 2;
/** k values per block (a multiple of 4). */
export const GEMM_KC = 512;
/** Rows of A per packed block (a multiple of TILE_ROWS_A). */
export const GEMM_MC = 120;
/** From this many rows of A on, operands are packed. */
export const PACK_MIN_ROWS = 4;
/**
 * Columns (rows of B) per packed block of B (a multiple of TILE_ROWS_B): packed once per k block and used by
 * every block of rows of A (measured a few percent faster than packing B per block of A; 256 to 2048 alike).
 */
export const GEMM_NC = 512;
/**
 * Bytes of scratch memory one gemm_nt call needs (packed A block and packed B block, float64 sized, and room for
 * a tile's accumulators).
 */
export const GEMM_SCRATCH_BYTES = (GEMM_MC + GEMM_NC) * GEMM_KC * 8 + TILE_ROWS_A * TILE_ROWS_B * 16;

export interface GemmModuleOptions {
  /** Use f32x4.relaxed_madd (one fused instruction) instead of mul then add. */
  relaxed: boolean;
  memory: MemoryImport;
}

type Madd = (a: Expr, b: Expr, c: Expr) => Expr;

const locals = <T>(n: number, make: () => T): T[] => Array.from({ length: n }, make);

/**
 * Adds the tile's lane sums to C: row i, column j gets (l0 + l2) + (l1 + l3) of acc[i][j] (plus C when `load`).
 * Tiles have 2 or 4 columns; only rows < `rows` and columns < `cols` are written (full tiles by whole vectors).
 */
function emitTileStore(f: FunctionBuilder, acc: Local[][], c: Local, ldc: Local, rows: Local, cols: Local, load: Local): void {
  const width = acc[0]!.length;
  const t0 = f.local("v128");
  const t1 = f.local("v128");
  const at = f.local("i32");
  const sums = acc.map(() => f.local("v128"));
  // [x0 l0 + l2, x1 l0 + l2, x0 l1 + l3, x1 l1 + l3] for two accumulators x0, x1.
  const halves = (x0: Expr, x1: Expr) => f32x4.add(f32x4.shuffle(x0, x1, [0, 4, 1, 5]), f32x4.shuffle(x0, x1, [2, 6, 3, 7]));
  acc.forEach((row, i) => {
    const col = (j: number) => row[j]!.get();
    f.set(t0, halves(col(0), col(1)));
    if (width === 2) {
      f.set(sums[i]!, f32x4.add(t0.get(), f32x4.shuffle(t0.get(), t0.get(), [2, 3, 2, 3])));
    } else {
      f.set(t1, halves(col(2), col(3)));
      f.set(sums[i]!, f32x4.add(f32x4.shuffle(t0.get(), t1.get(), [0, 1, 4, 5]), f32x4.shuffle(t0.get(), t1.get(), [2, 3, 6, 7])));
    }
  });
  // Row by row, `at` walking down C.
  const eachRow = (body: (s: Local, i: number) => void) =>
    sums.forEach((s, i) => {
      f.set(at, i === 0 ? c.get() : i32.add(at.get(), ldc.get()));
      body(s, i);
    });
  const full = i32.and(i32.eq(cols.get(), i32.const(width)), i32.eq(rows.get(), i32.const(acc.length)));
  f.ifThen(
    full,
    () =>
      eachRow((s) => {
        if (width === 4) {
          f.ifThen(load.get(), () => f.set(s, f32x4.add(f32x4.load(at.get()), s.get())));
          f.v128Store(at.get(), s.get());
        } else {
          // Two float32 of C in lanes 0 and 1 (and again in 2 and 3, unused).
          f.ifThen(load.get(), () => f.set(s, f32x4.add(f64x2.loadSplat(at.get()), s.get())));
          f.storeLane(at.get(), s.get(), 0);
          f.storeLane(at.get(), s.get(), 1, 4);
        }
      }),
    () =>
      eachRow((s, i) =>
        f.ifThen(i32.ltS(i32.const(i), rows.get()), () => {
          for (let j = 0; j < width; j++) {
            f.ifThen(i32.ltS(i32.const(j), cols.get()), () => {
              f.ifThen(load.get(), () => f.set(s, f32x4.replaceLane(s.get(), j, f32.add(f32.load(at.get(), 4 * j), f32x4.extractLane(s.get(), j)))));
              f.storeLane(at.get(), s.get(), j, 4 * j);
            });
          }
        }),
      ),
  );
}

/**
 * Loads values [p, kb) of a row at `row` (fewer than four) into the low lanes of a vector, zeros above.
 */
function partialGroup(f: FunctionBuilder, dst: Local, row: Expr, p: Local, kbBytes: Local): void {
  f.set(dst, f32x4.loadZero(i32.add(row, p.get())));
  for (let l = 1; l < 4; l++) {
    f.ifThen(i32.ltS(i32.add(p.get(), i32.const(4 * l)), kbBytes.get()), () => f.set(dst, f32x4.replaceLane(dst.get(), l, f32.load(i32.add(row, p.get()), 4 * l))));
  }
}

/**
 * pack(src, ld, count, kb, dst): rows [0, rows) of `src` (leading dimension ld bytes; rows ≥ count are zeros),
 * groups of four values of k in [0, kb) zero-padded, interleaved: for each group, the `rows` vectors one after
 * another. Packs A row pairs (rows = 2) and B tiles (rows = 4). With `float64`, each value is promoted and a
 * group becomes two pairs of k: for each pair, the rows' two-lane vectors one after another (rows · 16 bytes).
 */
function packFunction(name: string, rows: number, float64: boolean): FunctionBuilder {
  const f = new FunctionBuilder(name, ["i32", "i32", "i32", "i32", "i32"]);
  const [src, ld, count, kb, dst] = f.params as [Local, Local, Local, Local, Local];
  const row = locals(rows, () => f.local("i32"));
  const p = f.local("i32");
  const end = f.local("i32");
  const kbBytes = f.local("i32");
  const v = f.local("v128");
  const out = f.local("i32");
  row.forEach((r, i) => f.set(r, i === 0 ? src.get() : i32.add(row[i - 1]!.get(), ld.get())));
  f.set(kbBytes, i32.shl(kb.get(), i32.const(2)));
  f.set(end, i32.and(kbBytes.get(), i32.const(~15)));
  f.set(out, dst.get());
  // Stores the group of row i (loaded into v by `load`); rows ≥ count get zeros.
  const store = (i: number, load: () => void) => {
    const write = () => {
      load();
      if (!float64) return f.v128Store(out.get(), v.get(), 16 * i);
      f.v128Store(out.get(), f64x2.promoteLow(v.get()), 16 * i);
      f.v128Store(out.get(), f64x2.promoteLow(f32x4.shuffle(v.get(), v.get(), [2, 3, 2, 3])), 16 * (rows + i));
    };
    const zeros = () => {
      f.v128Store(out.get(), f32x4.zero(), 16 * i);
      if (float64) f.v128Store(out.get(), f32x4.zero(), 16 * (rows + i));
    };
    if (i === 0) write();
    else f.ifThen(i32.ltS(i32.const(i), count.get()), write, zeros);
  };
  f.forRange(p, i32.const(0), end.get(), i32.const(16), () => {
    row.forEach((r, i) => store(i, () => f.set(v, f32x4.load(i32.add(r.get(), p.get())))));
    f.set(out, i32.add(out.get(), i32.const((float64 ? 32 : 16) * rows)));
  });
  f.ifThen(i32.ltS(end.get(), kbBytes.get()), () => {
    f.set(p, end.get());
    row.forEach((r, i) => store(i, () => partialGroup(f, v, r.get(), p, kbBytes)));
  });
  return f;
}

type TileStore = (f: FunctionBuilder, acc: Local[][], c: Local, ldc: Local, rows: Local, cols: Local, load: Local) => void;

/**
 * tile_packed / tile_f64_packed (pa, pb, passes, c, ldc, rows, cols, load, spill): a 6 × 2 tile from a packed
 * panel of 6 rows of A and a packed pair of rows of B, `passes` vectors of each row deep (groups of four float32
 * values of k, or pairs of float64 values), then `store` (ldc in bytes; `spill`: 192 bytes of scratch). Per pass
 * the B pair is loaded and A's rows one at a time, each feeding two multiply-adds: 12 + 2 + 1 vector registers,
 * the 15 V8 has on x64. Measured on one core with operands in L1 (V8 11 to 13): 52-55 GFLOP/s against 50 for
 * the 2 × 4 tile this replaced; 2 × 6, 3 × 4 and 4 × 3 tiles and V8's own unrolling of a loop nested in
 * another keep more operands live and spill (24-40).
 */
function packedTileFunction(name: string, madd: Madd, store: TileStore): FunctionBuilder {
  const f = new FunctionBuilder(name, ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [pa, pb, passes, c, ldc, rows, cols, load, spill] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const acc = locals(TILE_ROWS_A, () => locals(TILE_ROWS_B, () => f.local("v128")));
  const end = f.local("i32");
  const bv = locals(TILE_ROWS_B, () => f.local("v128"));
  const av = f.local("v128");
  for (const row of acc) for (const x of row) f.set(x, f32x4.zero());
  // One pass per loop iteration (unrolled, V8's optimiser hoists the next pass's loads above this one's
  // multiply-adds and spills accumulators: measured, half the speed), counted by the A pointer itself (one
  // instruction less per pass than a counter).
  f.set(end, i32.add(pa.get(), i32.mul(passes.get(), i32.const(16 * TILE_ROWS_A))));
  f.ifThen(i32.ltU(pa.get(), end.get()), () =>
    f.doWhile(
      () => {
        bv.forEach((v, j) => f.set(v, f32x4.load(pb.get(), 16 * j)));
        acc.forEach((row, i) => {
          f.set(av, f32x4.load(pa.get(), 16 * i));
          row.forEach((x, j) => f.set(x, madd(bv[j]!.get(), av.get(), x.get())));
        });
        f.set(pa, i32.add(pa.get(), i32.const(16 * TILE_ROWS_A)));
        f.set(pb, i32.add(pb.get(), i32.const(16 * TILE_ROWS_B)));
      },
      () => i32.ltU(pa.get(), end.get()),
    ),
  );
  // Through memory before the lane sums: when the sums' shuffles read the loop's results directly, V8 (11 to 13)
  // orders the loop's multiply-adds so that all six A loads come first and spills accumulators inside the loop
  // (measured 24-43 GFLOP/s instead of 52-55). Twelve stores and loads per tile cost about 1 %.
  const all = acc.flat();
  all.forEach((x, i) => f.v128Store(spill.get(), x.get(), 16 * i));
  all.forEach((x, i) => f.set(x, f32x4.load(spill.get(), 16 * i)));
  store(f, acc, c, ldc, rows, cols, load);
  return f;
}

/**
 * tile_direct_R(a, lda, b, ldb, c, ldc, kb, cols, load): an R × 4 tile reading R rows of A and 4 rows of B in
 * place (kb values, byte leading dimensions). Columns ≥ cols read row 0 of the tile again and are not stored.
 */
function directTileFunction(rows: number, madd: Madd): FunctionBuilder {
  const f = new FunctionBuilder(`tile_direct_${rows}`, ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [a, lda, b, ldb, c, ldc, kb, cols, load] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const aRow = locals(rows, () => f.local("i32"));
  const bRow = locals(4, () => f.local("i32"));
  const acc = locals(rows, () => locals(4, () => f.local("v128")));
  const av = locals(rows, () => f.local("v128"));
  const bv = f.local("v128");
  const p = f.local("i32");
  const end = f.local("i32");
  const kbBytes = f.local("i32");
  const rowCount = f.local("i32");
  aRow.forEach((r, i) => f.set(r, i === 0 ? a.get() : i32.add(aRow[i - 1]!.get(), lda.get())));
  bRow.forEach((r, j) => {
    if (j === 0) f.set(r, b.get());
    else f.ifThen(i32.ltS(i32.const(j), cols.get()), () => f.set(r, i32.add(bRow[j - 1]!.get(), ldb.get())), () => f.set(r, b.get()));
  });
  for (const row of acc) for (const x of row) f.set(x, f32x4.zero());
  const step = (loadA: (i: number) => Expr, loadB: (j: number) => Expr) => {
    av.forEach((v, i) => f.set(v, loadA(i)));
    for (let j = 0; j < 4; j++) {
      f.set(bv, loadB(j));
      av.forEach((v, i) => f.set(acc[i]![j]!, madd(v.get(), bv.get(), acc[i]![j]!.get())));
    }
  };
  f.set(kbBytes, i32.shl(kb.get(), i32.const(2)));
  // Whole groups of four, then the zero-padded partial group.
  f.set(end, i32.and(kbBytes.get(), i32.const(~15)));
  f.forRange(p, i32.const(0), end.get(), i32.const(16), () =>
    step((i) => f32x4.load(i32.add(aRow[i]!.get(), p.get())), (j) => f32x4.load(i32.add(bRow[j]!.get(), p.get()))),
  );
  f.set(p, end.get());
  f.ifThen(i32.ltS(p.get(), kbBytes.get()), () => {
    const partA = av.map(() => f.local("v128"));
    aRow.forEach((r, i) => partialGroup(f, partA[i]!, r.get(), p, kbBytes));
    step((i) => partA[i]!.get(), (j) => {
      partialGroup(f, bv, bRow[j]!.get(), p, kbBytes);
      return bv.get();
    });
  });
  f.set(rowCount, i32.const(rows));
  emitTileStore(f, acc, c, ldc, rowCount, cols, load);
  return f;
}

/**
 * Writes the float64 tile's sums to C: element (i, j) is lane 0 + lane 1 of acc[i][j] (plus C when `load`),
 * rounded to float32, for rows < `rows` (all rows when undefined) and columns < `cols`.
 */
function emitF64TileStore(f: FunctionBuilder, acc: Local[][], c: Local, ldc: Local | undefined, rows: Local | undefined, cols: Local, load: Local): void {
  const sum = f.local("f64");
  const at = f.local("i32");
  acc.forEach((row, i) => {
    f.set(at, i === 0 ? c.get() : i32.add(at.get(), ldc!.get()));
    const body = () =>
      row.forEach((x, j) =>
        f.ifThen(i32.ltS(i32.const(j), cols.get()), () => {
          f.set(sum, f64.add(f64x2.extractLane(x.get(), 0), f64x2.extractLane(x.get(), 1)));
          f.ifThen(load.get(), () => f.set(sum, f64.add(f64.promote(f32.load(at.get(), 4 * j)), sum.get())));
          f.f32Store(at.get(), f32.demote(sum.get()), 4 * j);
        }),
      );
    if (i === 0) body();
    else f.ifThen(i32.ltS(i32.const(i), rows!.get()), body);
  });
}

/**
 * tile_f64_direct(a, b, ldb, c, kb, cols, load): one row of A × 4 rows of B read in place, float64 lanes with
 * the packed tile's arithmetic (lane l sums the products of k ≡ l mod 2 in order of k).
 */
function f64DirectTileFunction(madd: Madd): FunctionBuilder {
  const f = new FunctionBuilder("tile_f64_direct", ["i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [a, b, ldb, c, kb, cols, load] = f.params as [Local, Local, Local, Local, Local, Local, Local];
  const acc = locals(4, () => f.local("v128"));
  const aLo = f.local("v128");
  const aHi = f.local("v128");
  const bv = f.local("v128");
  const p = f.local("i32");
  const end = f.local("i32");
  const kbBytes = f.local("i32");
  const bRow = locals(4, () => f.local("i32"));
  const high = (v: Expr) => f64x2.promoteLow(f32x4.shuffle(v, v, [2, 3, 2, 3]));
  for (const x of acc) f.set(x, f32x4.zero());
  const group = (aVec: Expr, bVec: (j: number) => Expr) => {
    f.set(bv, aVec);
    f.set(aLo, f64x2.promoteLow(bv.get()));
    f.set(aHi, high(bv.get()));
    for (let j = 0; j < 4; j++) {
      f.set(bv, bVec(j));
      f.set(acc[j]!, madd(aLo.get(), f64x2.promoteLow(bv.get()), acc[j]!.get()));
      f.set(acc[j]!, madd(aHi.get(), high(bv.get()), acc[j]!.get()));
    }
  };
  bRow.forEach((r, j) => {
    if (j === 0) f.set(r, b.get());
    else f.ifThen(i32.ltS(i32.const(j), cols.get()), () => f.set(r, i32.add(bRow[j - 1]!.get(), ldb.get())), () => f.set(r, b.get()));
  });
  f.set(kbBytes, i32.shl(kb.get(), i32.const(2)));
  f.set(end, i32.and(kbBytes.get(), i32.const(~15)));
  f.forRange(p, i32.const(0), end.get(), i32.const(16), () => group(f32x4.load(i32.add(a.get(), p.get())), (j) => f32x4.load(i32.add(bRow[j]!.get(), p.get()))));
  f.ifThen(i32.ltS(end.get(), kbBytes.get()), () => {
    f.set(p, end.get());
    const partA = f.local("v128");
    const partB = f.local("v128");
    partialGroup(f, partA, a.get(), p, kbBytes);
    group(partA.get(), (j) => {
      partialGroup(f, partB, bRow[j]!.get(), p, kbBytes);
      return partB.get();
    });
  });
  emitF64TileStore(f, [acc], c, undefined, undefined, cols, load);
  return f;
}

interface KernelIndex {
  packA: number;
  packB: number;
  packed: number;
  direct1: number;
  direct2: number;
  packedF64: number;
  directF64: number;
  packAF64: number;
  packBF64: number;
}

/** gemm_nt flags. */
export const GEMM_ACCUMULATE = 1;
export const GEMM_F64 = 2;

/**
 * gemm_nt(m, n, k, a, lda, b, ldb, c, ldc, flags, scratch): C [m × n] (+)= A · Bᵀ. Addresses in bytes, leading
 * dimensions in elements, flags: GEMM_ACCUMULATE (add to C), GEMM_F64 (float64 lanes), scratch:
 * GEMM_SCRATCH_BYTES bytes this call may overwrite.
 */
function gemmFunction(ix: KernelIndex): FunctionBuilder {
  const [KC, MC, NC] = [GEMM_KC, GEMM_MC, GEMM_NC];
  const f = new FunctionBuilder("gemm_nt", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [m, n, k, a, lda, b, ldb, c, ldc, flags, scratch] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const [ldaB, ldbB, ldcB, k0, kb, groups, load, i0, rowsInBlock, i, j, cols, aK, bK, packB, rowBytes, wide, j0, jEnd, spill] = locals(20, () => f.local("i32")) as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  f.set(wide, i32.and(flags.get(), i32.const(GEMM_F64)));
  f.set(ldaB, i32.shl(lda.get(), i32.const(2)));
  f.set(ldbB, i32.shl(ldb.get(), i32.const(2)));
  f.set(ldcB, i32.shl(ldc.get(), i32.const(2)));
  f.set(packB, i32.add(scratch.get(), i32.const(MC * KC * 8)));
  f.set(spill, i32.add(packB.get(), i32.const(NC * KC * 8)));
  const cAt = (row: Expr, col: Expr) => i32.add(i32.add(c.get(), i32.mul(row, ldcB.get())), i32.shl(col, i32.const(2)));
  const bAt = (col: Expr) => i32.add(bK.get(), i32.mul(col, ldbB.get()));
  const colsLeft = (width: number) => f.set(cols, i32.minS(i32.const(width), i32.sub(n.get(), j.get())));

  const kBlock = () => {
    f.set(kb, i32.minS(i32.const(KC), i32.sub(k.get(), k0.get())));
    f.set(load, i32.or(i32.and(flags.get(), i32.const(GEMM_ACCUMULATE)), i32.ne(k0.get(), i32.const(0))));
    f.set(aK, i32.add(a.get(), i32.shl(k0.get(), i32.const(2))));
    f.set(bK, i32.add(b.get(), i32.shl(k0.get(), i32.const(2))));
  };
  f.ifThen(
    i32.ltS(m.get(), i32.const(PACK_MIN_ROWS)),
    () => {
      // Direct (few rows of A, which stay in cache): 4 rows of B at a time, read once from start to end.
      f.forRange(j, i32.const(0), n.get(), i32.const(4), () => {
        colsLeft(4);
        f.forRange(k0, i32.const(0), k.get(), i32.const(KC), () => {
          kBlock();
          f.ifThen(
            wide.get(),
            () => f.forRange(i, i32.const(0), m.get(), i32.const(1), () => f.call(ix.directF64, [i32.add(aK.get(), i32.mul(i.get(), ldaB.get())), bAt(j.get()), ldbB.get(), cAt(i.get(), j.get()), kb.get(), cols.get(), load.get()])),
            () => {
              f.set(i, i32.const(0));
              f.whileTrue(i32.ltS(i32.add(i.get(), i32.const(1)), m.get()), () => {
                f.call(ix.direct2, [i32.add(aK.get(), i32.mul(i.get(), ldaB.get())), ldaB.get(), bAt(j.get()), ldbB.get(), cAt(i.get(), j.get()), ldcB.get(), kb.get(), cols.get(), load.get()]);
                f.set(i, i32.add(i.get(), i32.const(2)));
              });
              f.ifThen(i32.ltS(i.get(), m.get()), () =>
                f.call(ix.direct1, [i32.add(aK.get(), i32.mul(i.get(), ldaB.get())), ldaB.get(), bAt(j.get()), ldbB.get(), cAt(i.get(), j.get()), ldcB.get(), kb.get(), cols.get(), load.get()]),
              );
            },
          );
        });
      });
    },
    () => {
      // Packed, in GotoBLAS's order: per k block and block of GEMM_NC columns, B's row pairs are packed once;
      // then per block of GEMM_MC rows of A, its 6-row panels, and each pair (in L1) against every panel (the
      // block of A stays in L2; streaming B from L3 past a panel in L1 instead measured as fast on a quiet
      // machine, but needs 16 GB/s of L3 per thread, which other tenants of the cache take away).
      f.forRange(k0, i32.const(0), k.get(), i32.const(KC), () => {
        kBlock();
        f.set(groups, i32.shrU(i32.add(kb.get(), i32.const(3)), i32.const(2)));
        // Bytes of one packed row: 16 per group of four k, 32 with float64 values. A panel starting at row i of
        // the block is at i · rowBytes, a pair starting at column j of the block at (j - j0) · rowBytes.
        f.set(rowBytes, i32.shl(groups.get(), i32.add(i32.const(4), i32.shrU(wide.get(), i32.const(1)))));
        const panel = () => i32.add(scratch.get(), i32.mul(i.get(), rowBytes.get()));
        const pair = () => i32.add(packB.get(), i32.mul(i32.sub(j.get(), j0.get()), rowBytes.get()));
        const panelRows = () => i32.minS(i32.const(TILE_ROWS_A), i32.sub(rowsInBlock.get(), i.get()));
        const widthOr = (f64Index: number, f32Index: number, args: () => Expr[]) => f.ifThen(wide.get(), () => f.call(f64Index, args()), () => f.call(f32Index, args()));
        f.forRange(j0, i32.const(0), n.get(), i32.const(NC), () => {
          f.set(jEnd, i32.minS(n.get(), i32.add(j0.get(), i32.const(NC))));
          f.forRange(j, j0.get(), jEnd.get(), i32.const(TILE_ROWS_B), () => {
            colsLeft(TILE_ROWS_B);
            widthOr(ix.packBF64, ix.packB, () => [bAt(j.get()), ldbB.get(), cols.get(), kb.get(), pair()]);
          });
          f.forRange(i0, i32.const(0), m.get(), i32.const(MC), () => {
            f.set(rowsInBlock, i32.minS(i32.const(MC), i32.sub(m.get(), i0.get())));
            f.forRange(i, i32.const(0), rowsInBlock.get(), i32.const(TILE_ROWS_A), () =>
              widthOr(ix.packAF64, ix.packA, () => [i32.add(aK.get(), i32.mul(i32.add(i0.get(), i.get()), ldaB.get())), ldaB.get(), panelRows(), kb.get(), panel()]),
            );
            f.forRange(j, j0.get(), jEnd.get(), i32.const(TILE_ROWS_B), () => {
              colsLeft(TILE_ROWS_B);
              f.forRange(i, i32.const(0), rowsInBlock.get(), i32.const(TILE_ROWS_A), () =>
                widthOr(ix.packedF64, ix.packed, () => [
                  panel(),
                  pair(),
                  i32.shl(groups.get(), i32.shrU(wide.get(), i32.const(1))),
                  cAt(i32.add(i0.get(), i.get()), j.get()),
                  ldcB.get(),
                  panelRows(),
                  cols.get(),
                  load.get(),
                  spill.get(),
                ]),
              );
            });
          });
        });
      });
    },
  );
  return f;
}

/**
 * The module's bytes: gemm_nt and the functions it calls, the weight decoders (decode-module.ts), the row
 * loops (row-ops-module.ts) and the float64 products of the blocked factorisations (linalg-f64-module.ts).
 */
export function gemmModuleBytes(options: GemmModuleOptions): Uint8Array<ArrayBuffer> {
  const madd: Madd = options.relaxed ? f32x4.relaxedMadd : (x, y, z) => f32x4.add(f32x4.mul(x, y), z);
  const madd64: Madd = options.relaxed ? f64x2.relaxedMadd : (x, y, z) => f64x2.add(f64x2.mul(x, y), z);
  const functions = [
    packFunction("pack_a", TILE_ROWS_A, false),
    packFunction("pack_b", TILE_ROWS_B, false),
    packedTileFunction("tile_packed", madd, emitTileStore),
    directTileFunction(1, madd),
    directTileFunction(2, madd),
    // Products of float32 values are exact in float64, so only the sums round, far below float32's (and fused
    // or not, the multiply-add gives the same bits): llama.cpp's integer dot products (8-bit activations).
    packedTileFunction("tile_f64_packed", madd64, emitF64TileStore),
    f64DirectTileFunction(madd64),
    packFunction("pack_f64_a", TILE_ROWS_A, true),
    packFunction("pack_f64_b", TILE_ROWS_B, true),
  ];
  const ix: KernelIndex = { packA: 0, packB: 1, packed: 2, direct1: 3, direct2: 4, packedF64: 5, directF64: 6, packAF64: 7, packBF64: 8 };
  const all = [...functions, gemmFunction(ix), ...decodeFunctions(), ...rowOpFunctions(), ...activationRoundingFunctions()];
  return encodeModule(options.memory, [...all, ...linalgF64Functions(options.relaxed, all.length)]);
}
