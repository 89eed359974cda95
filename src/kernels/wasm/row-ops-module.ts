/**
 * The exp-bound row loops of a forward pass in WebAssembly SIMD, generated with wasm-emitter.ts: attention's
 * causal softmax and the SwiGLU gate, with vector-ops.ts's arithmetic: scores scaled in float64 and rounded to
 * float32, the row maximum in float32, exp of the float64 difference rounded to float32, the denominator summed in float64, SwiGLU's
 * quotient in float64. exp is computed in float64 lanes (range reduction by ln 2, a degree-13 polynomial, the
 * power of two put in the exponent), within a few units in the last place of float64, so after rounding to
 * float32 it agrees with JavaScript's Math.exp except in rare ties: 8-bit activation rounding downstream
 * (llama.cpp's Q8 dot products) amplifies any last-bit change in the probabilities, so they must stay that close.
 *
 * softmax_causal(ptr, rows, cols, scale, first): rows of `cols` floats at ptr; row r keeps its first
 *   first + r + 1 entries (at most cols) as softmax(scale · x), the rest become 0.
 * swiglu(gate, up, count): gate[i] = silu(gate[i]) · up[i].
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

export function rowOpFunctions(): FunctionBuilder[] {
  return [softmaxFunction(), swigluFunction()];
}
