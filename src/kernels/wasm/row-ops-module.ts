/**
 * The row loops of a forward pass in WebAssembly SIMD, generated with wasm-emitter.ts.
 *
 * Attention's causal softmax and the SwiGLU gate, with vector-ops.ts's arithmetic: scores scaled in float64 and
 * rounded to float32, the row maximum in float32, exp of the float64 difference rounded to float32, the
 * denominator summed in float64, SwiGLU's quotient in float64. exp is computed in float64 lanes (range
 * reduction by ln 2, a degree-13 polynomial, the power of two put in the exponent), within a few units in the
 * last place of float64, so after rounding to float32 it agrees with JavaScript's Math.exp except in rare ties:
 * 8-bit activation rounding downstream (llama.cpp's Q8 dot products) amplifies any last-bit change in the
 * probabilities, so they must stay that close.
 *
 * RMSNorm, RoPE and row additions, bit-identical to vector-ops.ts's rmsNormRows, ropeRows and addRows: the same
 * IEEE operations in the same order (RMSNorm's float64 sum of float32 squares stays sequential, lane after
 * lane; RoPE's rotations are float64 lanes over the float32 inputs, rounded once to float32).
 *
 * softmax_causal(ptr, rows, cols, scale, first): rows of `cols` floats at ptr; row r keeps its first
 *   first + r + 1 entries (at most cols) as softmax(scale · x), the rest become 0.
 * swiglu(gate, up, count): gate[i] = silu(gate[i]) · up[i].
 * rms_norm(x, out, weight, rows, dim, eps): out = x · float32(1 / sqrt(mean(x²) + eps)) · weight per row.
 * rope(x, rows, stride, heads, headSize, half, neox, cos, sin): rotates pairs (2i, 2i+1), or (i, i + half)
 *   when neox, of each head; row r's angles at cos/sin + 4 · r · half.
 * add_rows(x, y, rows, cols): x [rows × cols] += y [cols] in every row.
 */
import { FunctionBuilder, f32, f32x4, f64, f64x2, i32, v128 } from "./wasm-emitter.js";
import type { Expr, Local } from "./wasm-emitter.js";

const i64Pair = (lo: number, hi: number): Expr => v128.i32x4([lo, hi, lo, hi]);

/** 1.5 · 2^52: adding it rounds a float64 of magnitude below 2^51 to an integer, found in the low mantissa bits. */
const ROUNDER = 6755399441055744;
/** ln 2 split so that n · LN2_HI is exact for |n| < 2^11 (fdlibm's constants). */
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;

/** out = exp(x) in two float64 lanes, x clamped to [-708, 709] (float64's normal range). Uses t and n. */
function emitExp(f: FunctionBuilder, x: Expr, out: Local, t: Local, n: Local): void {
  f.set(t, f64x2.max(f64x2.min(x, f64x2.const(709)), f64x2.const(-708)));
  f.set(n, f64x2.add(f64x2.mul(t.get(), f64x2.const(Math.LOG2E)), f64x2.const(ROUNDER)));
  const k = () => f64x2.sub(n.get(), f64x2.const(ROUNDER));
  f.set(t, f64x2.sub(f64x2.sub(t.get(), f64x2.mul(k(), f64x2.const(LN2_HI))), f64x2.mul(k(), f64x2.const(LN2_LO))));
  // e^r ≈ Σ r^i / i!, i ≤ 13, by Horner (|r| ≤ ln2 / 2: the first omitted term is below 2^-59).
  let factorial = 1;
  for (let i = 2; i <= 13; i++) factorial *= i;
  let p: Expr = f64x2.const(1 / factorial);
  for (let i = 12; i >= 0; i--) {
    factorial /= i + 1;
    p = f64x2.add(f64x2.mul(p, t.get()), f64x2.const(1 / factorial));
  }
  // 2^k: (k + 1023) << 52, with k = bits(n) − bits(ROUNDER) (integer subtraction of the 64-bit patterns).
  const rounderBits = new Uint32Array(Float64Array.of(ROUNDER).buffer);
  const exponent = v128.i64x2Add(v128.i64x2Sub(n.get(), i64Pair(rounderBits[0]!, rounderBits[1]!)), i64Pair(1023, 0));
  f.set(out, f64x2.mul(p, v128.i64x2Shl(exponent, 52)));
}

/** The float32 lanes 2 and 3 of a vector as float64. */
const promoteHigh = (v: Expr) => f64x2.promoteLow(f32x4.shuffle(v, v, [2, 3, 2, 3]));
/** Two float64 pairs rounded to one float32 vector. */
const demotePair = (lo: Expr, hi: Expr) => f32x4.shuffle(f64x2.demoteZero(lo), f64x2.demoteZero(hi), [0, 1, 4, 5]);

function softmaxFunction(): FunctionBuilder {
  const f = new FunctionBuilder("softmax_causal", ["i32", "i32", "i32", "f64", "i32"]);
  const [ptr, rows, cols, scale, first] = f.params as [Local, Local, Local, Local, Local];
  const [r, row, valid, whole, i, at] = Array.from({ length: 6 }, () => f.local("i32")) as [Local, Local, Local, Local, Local, Local];
  const [v, lo, hi, t, n, vmax, acc, max2] = Array.from({ length: 8 }, () => f.local("v128")) as [Local, Local, Local, Local, Local, Local, Local, Local];
  const [s, max] = [f.local("f32"), f.local("f32")];
  const [sum, inv] = [f.local("f64"), f.local("f64")];
  const element = () => i32.add(row.get(), i32.shl(i.get(), i32.const(2)));
  f.forRange(r, i32.const(0), rows.get(), i32.const(1), () => {
    f.set(row, i32.add(ptr.get(), i32.shl(i32.mul(r.get(), cols.get()), i32.const(2))));
    f.set(valid, i32.minS(i32.add(i32.add(first.get(), r.get()), i32.const(1)), cols.get()));
    f.set(whole, i32.and(valid.get(), i32.const(~3)));
    // Scale (float64 product, rounded); the maximum.
    f.set(vmax, v128.i32x4([0xff800000, 0xff800000, 0xff800000, 0xff800000]));
    f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
      f.set(v, f32x4.load(element()));
      f.set(v, demotePair(f64x2.mul(f64x2.promoteLow(v.get()), f64x2.splat(scale.get())), f64x2.mul(promoteHigh(v.get()), f64x2.splat(scale.get()))));
      f.v128Store(element(), v.get());
      f.set(vmax, f32x4.max(vmax.get(), v.get()));
    });
    f.set(vmax, f32x4.max(vmax.get(), f32x4.shuffle(vmax.get(), vmax.get(), [2, 3, 0, 1])));
    f.set(vmax, f32x4.max(vmax.get(), f32x4.shuffle(vmax.get(), vmax.get(), [1, 0, 3, 2])));
    f.set(max, f32x4.extractLane(vmax.get(), 0));
    f.forRange(i, whole.get(), valid.get(), i32.const(1), () => {
      f.set(s, f32.demote(f64.mul(f64.promote(f32.load(element())), scale.get())));
      f.f32Store(element(), s.get());
      f.set(max, f32.max(max.get(), s.get()));
    });
    // e = float32(exp(x − max)) with the difference in float64 (exact); the sum in float64.
    f.set(max2, f64x2.promoteLow(f32x4.splat(max.get())));
    f.set(acc, f32x4.zero());
    f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
      f.set(at, element());
      f.set(v, f32x4.load(at.get()));
      emitExp(f, f64x2.sub(f64x2.promoteLow(v.get()), max2.get()), lo, t, n);
      emitExp(f, f64x2.sub(promoteHigh(v.get()), max2.get()), hi, t, n);
      f.set(v, demotePair(lo.get(), hi.get()));
      f.v128Store(at.get(), v.get());
      f.set(acc, f64x2.add(acc.get(), f64x2.add(f64x2.promoteLow(v.get()), promoteHigh(v.get()))));
    });
    f.set(sum, f64.add(f64x2.extractLane(acc.get(), 0), f64x2.extractLane(acc.get(), 1)));
    f.forRange(i, whole.get(), valid.get(), i32.const(1), () => {
      f.set(at, element());
      emitExp(f, f64x2.sub(f64x2.promoteLow(f32x4.loadSplat(at.get())), max2.get()), lo, t, n);
      f.set(s, f32.demote(f64x2.extractLane(lo.get(), 0)));
      f.f32Store(at.get(), s.get());
      f.set(sum, f64.add(sum.get(), f64.promote(s.get())));
    });
    // Normalise (float64 product, rounded); zero the masked entries.
    f.set(inv, f64.div(f64.const(1), sum.get()));
    f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
      f.set(v, f32x4.load(element()));
      f.set(lo, f64x2.mul(f64x2.promoteLow(v.get()), f64x2.splat(inv.get())));
      f.set(hi, f64x2.mul(promoteHigh(v.get()), f64x2.splat(inv.get())));
      f.v128Store(element(), demotePair(lo.get(), hi.get()));
    });
    f.forRange(i, whole.get(), valid.get(), i32.const(1), () =>
      f.storeLane(element(), f64x2.demoteZero(f64x2.mul(f64x2.promoteLow(f32x4.loadSplat(element())), f64x2.splat(inv.get()))), 0),
    );
    f.forRange(i, valid.get(), cols.get(), i32.const(1), () => f.f32Store(element(), f32.const(0)));
  });
  return f;
}

function swigluFunction(): FunctionBuilder {
  const f = new FunctionBuilder("swiglu", ["i32", "i32", "i32"]);
  const [gate, up, count] = f.params as [Local, Local, Local];
  const [i, whole, g, u] = Array.from({ length: 4 }, () => f.local("i32")) as [Local, Local, Local, Local];
  const [x, e, t, n, lo, hi] = Array.from({ length: 6 }, () => f.local("v128")) as [Local, Local, Local, Local, Local, Local];
  // float32(x / (1 + e^-x)) · up, the quotient and the product in float64, for two values in x's float64 lanes.
  const pair = (xs: Expr, ups: Expr, out: Local) => {
    f.set(x, xs);
    emitExp(f, f64x2.sub(f64x2.const(0), x.get()), e, t, n);
    f.set(out, f64x2.mul(f64x2.promoteLow(f64x2.demoteZero(f64x2.div(x.get(), f64x2.add(f64x2.const(1), e.get())))), ups));
  };
  const at = () => {
    f.set(g, i32.add(gate.get(), i32.shl(i.get(), i32.const(2))));
    f.set(u, i32.add(up.get(), i32.shl(i.get(), i32.const(2))));
  };
  f.set(whole, i32.and(count.get(), i32.const(~3)));
  f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
    at();
    pair(f64x2.promoteLow(f32x4.load(g.get())), f64x2.promoteLow(f32x4.load(u.get())), lo);
    pair(promoteHigh(f32x4.load(g.get())), promoteHigh(f32x4.load(u.get())), hi);
    f.v128Store(g.get(), demotePair(lo.get(), hi.get()));
  });
  f.forRange(i, whole.get(), count.get(), i32.const(1), () => {
    at();
    pair(f64x2.promoteLow(f32x4.loadSplat(g.get())), f64x2.promoteLow(f32x4.loadSplat(u.get())), lo);
    f.storeLane(g.get(), f64x2.demoteZero(lo.get()), 0);
  });
  return f;
}

export interface RowOpExports {
  rms_norm(x: number, out: number, weight: number, rows: number, dim: number, eps: number): void;
  rope(x: number, rows: number, stride: number, heads: number, headSize: number, half: number, neox: number, cos: number, sin: number): void;
  add_rows(x: number, y: number, rows: number, cols: number): void;
}

function rmsNormFunction(): FunctionBuilder {
  const f = new FunctionBuilder("rms_norm", ["i32", "i32", "i32", "i32", "i32", "f64"]);
  const [x, out, weight, rows, dim, eps] = f.params as [Local, Local, Local, Local, Local, Local];
  const [r, i, row, orow, whole, at] = Array.from({ length: 6 }, () => f.local("i32")) as [Local, Local, Local, Local, Local, Local];
  const [sq, scales] = [f.local("v128"), f.local("v128")];
  const [s, mean, scale] = [f.local("f32"), f.local("f32"), f.local("f32")];
  const sum = f.local("f64");
  const offset = () => i32.shl(i.get(), i32.const(2));
  const add = (e: Expr) => f.set(sum, f64.add(sum.get(), e));
  f.set(whole, i32.and(dim.get(), i32.const(~3)));
  f.forRange(r, i32.const(0), rows.get(), i32.const(1), () => {
    f.set(row, i32.add(x.get(), i32.shl(i32.mul(r.get(), dim.get()), i32.const(2))));
    f.set(orow, i32.add(out.get(), i32.shl(i32.mul(r.get(), dim.get()), i32.const(2))));
    // Squares four at a time in float32, summed in float64 in element order.
    f.set(sum, f64.const(0));
    f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
      f.set(sq, f32x4.load(i32.add(row.get(), offset())));
      f.set(sq, f32x4.mul(sq.get(), sq.get()));
      add(f64x2.extractLane(f64x2.promoteLow(sq.get()), 0));
      add(f64x2.extractLane(f64x2.promoteLow(sq.get()), 1));
      add(f64x2.extractLane(promoteHigh(sq.get()), 0));
      add(f64x2.extractLane(promoteHigh(sq.get()), 1));
    });
    f.forRange(i, whole.get(), dim.get(), i32.const(1), () => {
      f.set(s, f32.load(i32.add(row.get(), offset())));
      add(f64.promote(f32.mul(s.get(), s.get())));
    });
    f.set(mean, f32.demote(f64.div(sum.get(), f64.convertI32S(dim.get()))));
    const root = f32.demote(f64.sqrt(f64.promote(f32.demote(f64.add(f64.promote(mean.get()), eps.get())))));
    f.set(scale, f32.demote(f64.div(f64.const(1), f64.promote(root))));
    f.set(scales, f32x4.splat(scale.get()));
    f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
      f.set(at, offset());
      const v = f32x4.mul(f32x4.load(i32.add(row.get(), at.get())), scales.get());
      f.v128Store(i32.add(orow.get(), at.get()), f32x4.mul(v, f32x4.load(i32.add(weight.get(), at.get()))));
    });
    f.forRange(i, whole.get(), dim.get(), i32.const(1), () => {
      f.set(at, offset());
      const v = f32.mul(f32.load(i32.add(row.get(), at.get())), scale.get());
      f.f32Store(i32.add(orow.get(), at.get()), f32.mul(v, f32.load(i32.add(weight.get(), at.get()))));
    });
  });
  return f;
}

function ropeFunction(): FunctionBuilder {
  const f = new FunctionBuilder("rope", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [x, rows, stride, heads, headSize, half, neox, cos, sin] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const [r, h, i, base, c, s, whole, p0, p1] = Array.from({ length: 9 }, () => f.local("i32")) as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const [v0, v1, cv, sv, lo0, hi0, lo1] = Array.from({ length: 7 }, () => f.local("v128")) as [Local, Local, Local, Local, Local, Local, Local];
  const [x0, x1, cs, sn] = [f.local("f64"), f.local("f64"), f.local("f64"), f.local("f64")];
  const f32At = (base: Local, index: Expr) => i32.add(base.get(), i32.shl(index, i32.const(2)));
  /** One pair at addresses p0, p1 with pair i's angle, in scalar float64. */
  const scalarPair = () => {
    f.set(x0, f64.promote(f32.load(p0.get())));
    f.set(x1, f64.promote(f32.load(p1.get())));
    f.set(cs, f64.promote(f32.load(f32At(c, i.get()))));
    f.set(sn, f64.promote(f32.load(f32At(s, i.get()))));
    f.f32Store(p0.get(), f32.demote(f64.sub(f64.mul(x0.get(), cs.get()), f64.mul(x1.get(), sn.get()))));
    f.f32Store(p1.get(), f32.demote(f64.add(f64.mul(x0.get(), sn.get()), f64.mul(x1.get(), cs.get()))));
  };
  // (s, −s): x·c − swapped(x)·(s, −s) gives (x0·c − x1·s, x1·c + x0·s) in the lanes of one pair.
  const signs = v128.i32x4([0, 0x3ff00000, 0, 0xbff00000]);
  const adjacent = (xs: Expr, swapped: Expr, pair: number) =>
    f64x2.sub(
      f64x2.mul(xs, f64x2.promoteLow(f32x4.loadSplat(f32At(c, i.get()), 4 * pair))),
      f64x2.mul(swapped, f64x2.mul(f64x2.promoteLow(f32x4.loadSplat(f32At(s, i.get()), 4 * pair)), signs)),
    );
  f.forRange(r, i32.const(0), rows.get(), i32.const(1), () => {
    f.set(c, f32At(cos, i32.mul(r.get(), half.get())));
    f.set(s, f32At(sin, i32.mul(r.get(), half.get())));
    f.forRange(h, i32.const(0), heads.get(), i32.const(1), () => {
      f.set(base, f32At(x, i32.add(i32.mul(r.get(), stride.get()), i32.mul(h.get(), headSize.get()))));
      f.ifThen(
        neox.get(),
        () => {
          // Pairs (i, i + half), four at a time: x0 and x1 vectors, their angles in the same lanes.
          f.set(whole, i32.and(half.get(), i32.const(~3)));
          f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
            f.set(p0, f32At(base, i.get()));
            f.set(p1, f32At(base, i32.add(i.get(), half.get())));
            f.set(v0, f32x4.load(p0.get()));
            f.set(v1, f32x4.load(p1.get()));
            f.set(cv, f32x4.load(f32At(c, i.get())));
            f.set(sv, f32x4.load(f32At(s, i.get())));
            const rotate = (promote: (e: Expr) => Expr, first: boolean) => {
              const [a, b, cc, ss] = [promote(v0.get()), promote(v1.get()), promote(cv.get()), promote(sv.get())];
              return first ? f64x2.sub(f64x2.mul(a, cc), f64x2.mul(b, ss)) : f64x2.add(f64x2.mul(a, ss), f64x2.mul(b, cc));
            };
            f.set(lo0, rotate(f64x2.promoteLow, true));
            f.set(hi0, rotate(promoteHigh, true));
            f.set(lo1, rotate(f64x2.promoteLow, false));
            f.v128Store(p1.get(), demotePair(lo1.get(), rotate(promoteHigh, false)));
            f.v128Store(p0.get(), demotePair(lo0.get(), hi0.get()));
          });
          f.forRange(i, whole.get(), half.get(), i32.const(1), () => {
            f.set(p0, f32At(base, i.get()));
            f.set(p1, f32At(base, i32.add(i.get(), half.get())));
            scalarPair();
          });
        },
        () => {
          // Adjacent pairs, two at a time: (x0, x1, x0', x1') and its pair-swapped copy.
          f.set(whole, i32.and(half.get(), i32.const(~1)));
          f.forRange(i, i32.const(0), whole.get(), i32.const(2), () => {
            f.set(p0, f32At(base, i32.shl(i.get(), i32.const(1))));
            f.set(v0, f32x4.load(p0.get()));
            f.set(v1, f32x4.shuffle(v0.get(), v0.get(), [1, 0, 3, 2]));
            f.set(lo0, adjacent(f64x2.promoteLow(v0.get()), f64x2.promoteLow(v1.get()), 0));
            f.v128Store(p0.get(), demotePair(lo0.get(), adjacent(promoteHigh(v0.get()), promoteHigh(v1.get()), 1)));
          });
          f.forRange(i, whole.get(), half.get(), i32.const(1), () => {
            f.set(p0, f32At(base, i32.shl(i.get(), i32.const(1))));
            f.set(p1, i32.add(p0.get(), i32.const(4)));
            scalarPair();
          });
        },
      );
    });
  });
  return f;
}

function addRowsFunction(): FunctionBuilder {
  const f = new FunctionBuilder("add_rows", ["i32", "i32", "i32", "i32"]);
  const [x, y, rows, cols] = f.params as [Local, Local, Local, Local];
  const [r, i, row, whole, at] = Array.from({ length: 5 }, () => f.local("i32")) as [Local, Local, Local, Local, Local];
  f.set(whole, i32.and(cols.get(), i32.const(~3)));
  f.forRange(r, i32.const(0), rows.get(), i32.const(1), () => {
    f.set(row, i32.add(x.get(), i32.shl(i32.mul(r.get(), cols.get()), i32.const(2))));
    f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
      f.set(at, i32.shl(i.get(), i32.const(2)));
      f.v128Store(i32.add(row.get(), at.get()), f32x4.add(f32x4.load(i32.add(row.get(), at.get())), f32x4.load(i32.add(y.get(), at.get()))));
    });
    f.forRange(i, whole.get(), cols.get(), i32.const(1), () => {
      f.set(at, i32.shl(i.get(), i32.const(2)));
      f.f32Store(i32.add(row.get(), at.get()), f32.add(f32.load(i32.add(row.get(), at.get())), f32.load(i32.add(y.get(), at.get()))));
    });
  });
  return f;
}

export function rowOpFunctions(): FunctionBuilder[] {
  return [softmaxFunction(), swigluFunction(), rmsNormFunction(), ropeFunction(), addRowsFunction()];
}
