/**
 * ggml's scale searches (ggml-search.ts) as WebAssembly SIMD, generated with the kernels' emitter. Each lane of
 * a 128-bit vector runs the search of its own group, so four groups are searched at once; a lane does exactly
 * the float32 operations of the scalar search in the same order (WebAssembly's f32 arithmetic is IEEE binary32
 * with round-to-nearest-even and never fuses a multiply into an add), so the results are bit-identical to it
 * and to llama.cpp. Branches of the scalar code become lane masks: a lane whose candidate loses keeps its
 * state through a bitwise select.
 *
 * Data layout, four groups (a "quad") interleaved: value i of group 4q + g is the float32 at
 * base + 16 * (q * n + i) + 4 * g, so one vector load gives value i of the four groups.
 */
import { FunctionBuilder, f32x4, i32, v128 } from "../kernels/wasm/wasm-emitter.js";
import type { Expr, Local } from "../kernels/wasm/wasm-emitter.js";
import { KVALUES_IQ4NL } from "./ggml-search.js";
import { lowBytes } from "./legacy-module.js";

/**
 * Constants of the inner loops, held in locals set once per call: a v128.const inside an unrolled loop is
 * rebuilt at every use by V8's code (several instructions), a local is a register or a stack slot.
 */
function constant(f: FunctionBuilder, value: Expr): Local {
  const l = f.local("v128");
  f.set(l, value);
  return l;
}

/** nearest_int's magic 1.5 * 2^23 and the masks that read the rounded integer from its low mantissa bits. */
interface RoundingConstants {
  magic: Local;
  lowBits: Local;
  bias: Local;
}

function roundingConstants(f: FunctionBuilder): RoundingConstants {
  return {
    magic: constant(f, f32x4.const(12582912)),
    lowBits: constant(f, v128.i32x4([0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff])),
    bias: constant(f, v128.i32x4([0x400000, 0x400000, 0x400000, 0x400000])),
  };
}

/**
 * nearest_int(v) per lane as ggml computes it for any float: add 1.5 * 2^23 in float32, keep the low 23 bits
 * and subtract 2^22 (round half to even for |v| < 2^22, the same wrapped values as C beyond), then clamp to
 * [lo, hi]. Returns int32 lanes.
 */
function nearestIntClamped(v: Expr, lo: Expr, hi: Expr, k: RoundingConstants): Expr {
  const l = v128.i32x4Sub(v128.and(f32x4.add(v, k.magic.get()), k.lowBits.get()), k.bias.get());
  return v128.i32x4MinS(v128.i32x4MaxS(l, lo), hi);
}

const locals = (f: FunctionBuilder, n: number): Local[] => Array.from({ length: n }, () => f.local("v128"));

/**
 * Loops over the values of a quad: `off` runs over the byte offsets 16 * i of value i from `first` to n - 1
 * (a loop rather than unrolled code: V8's optimizing compiler allocates registers far better in a small loop).
 */
function eachValue(f: FunctionBuilder, off: Local, n: number, body: () => void, first = 0): void {
  f.forRange(off, i32.const(16 * first), i32.const(16 * n), i32.const(16), body);
}

/** Vector i of the quad at `base`, i being the current `off` of eachValue. */
const at = (base: Local, off: Local) => f32x4.load(i32.add(base.get(), off.get()));

/**
 * The weights of a make_qkx2_quants search: read from memory ("given"), |x| (quantize_row_q2_K_ref) or
 * sqrt(mean x^2) + |x| over the group (quantize_row_q4_K_ref / q5_K_ref), computed in the kernel.
 */
export type QkxWeights = "given" | "abs" | "rmsAbs";

/** The kernel name of a make_qkx2_quants variant. */
export const qkxKernelName = (n: number, mad: boolean, weights: QkxWeights) => `qkx_${n}${mad ? "_mad" : ""}${weights === "given" ? "" : `_${weights}`}`;

/**
 * make_qkx2_quants on `quads` quads of n-value groups: qkxKernelName(n, mad, weights)(x, w, levels, aux, out,
 * quads, nmax, rmin, rdelta, nstep). Reads values at x and weights at w (quad layout; the kernel writes them there
 * first unless they are "given"); writes the chosen levels as float32 at `levels` (quad layout) and per quad two
 * vectors at out + 32 q: the scales, then the mins as positive offsets (ggml's the_min). `aux` is scratch for
 * one quad's candidate levels. `mad` picks the absolute error instead of the squared one.
 */
export function qkxSearchFunction(n: number, mad: boolean, weights: QkxWeights): FunctionBuilder {
  const f = new FunctionBuilder(qkxKernelName(n, mad, weights), ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32", "i32"]);
  const [x, w, levels, aux, out, quads, nmaxInt, rmin, rdelta, nstep] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const q = f.local("i32");
  const is = f.local("i32");
  const off = f.local("i32");
  const [min, max, sumW, sumX, nmax, zeroI, nmaxI, iscale, scale, bestError, flat] = locals(f, 11);
  const [sumL, sumL2, sumXL, D, thisScale, thisMin, curError, accept, xi, wi, l, wl, diff] = locals(f, 13);
  const zero = f32x4.zero;
  const error = (d: Expr) => (mad ? f32x4.abs(d) : f32x4.mul(d, d));
  const k = roundingConstants(f);
  /** Level of the current value for inverse scale `iscale` and offset `min`, as float32. */
  const level = () => v128.f32x4ConvertI32S(nearestIntClamped(f32x4.mul(iscale.get(), f32x4.sub(xi.get(), min.get())), zeroI.get(), nmaxI.get(), k));

  f.set(nmaxI, v128.i32x4Splat(nmaxInt.get()));
  f.set(nmax, v128.f32x4ConvertI32S(nmaxI.get()));
  f.set(zeroI, zero());
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    if (weights === "abs") eachValue(f, off, n, () => f.v128Store(i32.add(w.get(), off.get()), f32x4.abs(at(x, off))));
    if (weights === "rmsAbs") {
      // av_x = sqrtf(sum_x2 / n), the sum in order; weight av_x + |x|.
      f.set(sumX, zero());
      eachValue(f, off, n, () => f.set(sumX, f32x4.add(sumX.get(), f32x4.mul(at(x, off), at(x, off)))));
      f.set(sumW, f32x4.sqrt(f32x4.div(sumX.get(), f32x4.const(n))));
      eachValue(f, off, n, () => f.v128Store(i32.add(w.get(), off.get()), f32x4.add(sumW.get(), f32x4.abs(at(x, off)))));
    }
    // min, max, sum of weights and of weighted values, in order.
    f.set(min, f32x4.load(x.get()));
    f.set(max, min.get());
    f.set(sumW, f32x4.load(w.get()));
    f.set(sumX, f32x4.mul(sumW.get(), min.get()));
    eachValue(
      f,
      off,
      n,
      () => {
        f.set(xi, at(x, off));
        f.set(wi, at(w, off));
        f.set(min, v128.bitselect(xi.get(), min.get(), f32x4.lt(xi.get(), min.get())));
        f.set(max, v128.bitselect(xi.get(), max.get(), f32x4.gt(xi.get(), max.get())));
        f.set(sumW, f32x4.add(sumW.get(), wi.get()));
        f.set(sumX, f32x4.add(sumX.get(), f32x4.mul(wi.get(), xi.get())));
      },
      1,
    );
    f.set(min, v128.bitselect(zero(), min.get(), f32x4.gt(min.get(), zero())));
    // Lanes with max == min return right away (levels 0, scale 0): they never accept a candidate.
    f.set(flat, f32x4.eq(max.get(), min.get()));
    f.set(iscale, f32x4.div(nmax.get(), f32x4.sub(max.get(), min.get())));
    f.set(scale, f32x4.div(f32x4.const(1), iscale.get()));
    f.set(bestError, zero());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(l, level());
      f.v128Store(i32.add(levels.get(), off.get()), l.get());
      f.set(diff, f32x4.sub(f32x4.add(f32x4.mul(scale.get(), l.get()), min.get()), xi.get()));
      f.set(bestError, f32x4.add(bestError.get(), f32x4.mul(at(w, off), error(diff.get()))));
    });
    // nstep < 1 returns after the first fit.
    f.set(is, i32.const(0));
    f.whileTrue(i32.and(i32.geS(nstep.get(), i32.const(1)), i32.leS(is.get(), nstep.get())), () => {
      // `min` is each lane's best fit so far, so the range moves as the search proceeds.
      const step = f32x4.mul(f32x4.splat(rdelta.get()), v128.f32x4ConvertI32S(v128.i32x4Splat(is.get())));
      f.set(iscale, f32x4.div(f32x4.add(f32x4.add(f32x4.splat(rmin.get()), step), nmax.get()), f32x4.sub(max.get(), min.get())));
      f.set(sumL, zero());
      f.set(sumL2, zero());
      f.set(sumXL, zero());
      eachValue(f, off, n, () => {
        f.set(xi, at(x, off));
        f.set(l, level());
        f.v128Store(i32.add(aux.get(), off.get()), l.get());
        f.set(wl, f32x4.mul(at(w, off), l.get()));
        f.set(sumL, f32x4.add(sumL.get(), wl.get()));
        f.set(sumL2, f32x4.add(sumL2.get(), f32x4.mul(wl.get(), l.get())));
        f.set(sumXL, f32x4.add(sumXL.get(), f32x4.mul(wl.get(), xi.get())));
      });
      f.set(D, f32x4.sub(f32x4.mul(sumW.get(), sumL2.get()), f32x4.mul(sumL.get(), sumL.get())));
      f.set(thisScale, f32x4.div(f32x4.sub(f32x4.mul(sumW.get(), sumXL.get()), f32x4.mul(sumX.get(), sumL.get())), D.get()));
      f.set(thisMin, f32x4.div(f32x4.sub(f32x4.mul(sumL2.get(), sumX.get()), f32x4.mul(sumL.get(), sumXL.get())), D.get()));
      // A positive min is replaced by 0 and the scale refitted alone.
      f.set(accept, f32x4.gt(thisMin.get(), zero()));
      f.set(thisScale, v128.bitselect(f32x4.div(sumXL.get(), sumL2.get()), thisScale.get(), accept.get()));
      f.set(thisMin, v128.bitselect(zero(), thisMin.get(), accept.get()));
      f.set(curError, zero());
      eachValue(f, off, n, () => {
        f.set(diff, f32x4.sub(f32x4.add(f32x4.mul(thisScale.get(), at(aux, off)), thisMin.get()), at(x, off)));
        f.set(curError, f32x4.add(curError.get(), f32x4.mul(at(w, off), error(diff.get()))));
      });
      f.set(accept, v128.andNot(v128.and(f32x4.gt(D.get(), zero()), f32x4.lt(curError.get(), bestError.get())), flat.get()));
      f.ifThen(v128.anyTrue(accept.get()), () => {
        eachValue(f, off, n, () => f.v128Store(i32.add(levels.get(), off.get()), v128.bitselect(at(aux, off), at(levels, off), accept.get())));
        f.set(bestError, v128.bitselect(curError.get(), bestError.get(), accept.get()));
        f.set(scale, v128.bitselect(thisScale.get(), scale.get(), accept.get()));
        f.set(min, v128.bitselect(thisMin.get(), min.get(), accept.get()));
      });
      f.set(is, i32.add(is.get(), i32.const(1)));
    });
    eachValue(f, off, n, () => f.v128Store(i32.add(levels.get(), off.get()), v128.andNot(at(levels, off), flat.get())));
    f.v128Store(out.get(), v128.andNot(scale.get(), flat.get()));
    f.v128Store(out.get(), f32x4.neg(min.get()), 16);
    f.set(x, i32.add(x.get(), i32.const(16 * n)));
    f.set(w, i32.add(w.get(), i32.const(16 * n)));
    f.set(levels, i32.add(levels.get(), i32.const(16 * n)));
    f.set(out, i32.add(out.get(), i32.const(32)));
  });
  return f;
}

/**
 * make_qx_quants (rmse_type 1) on `quads` quads of n-value groups: qx_<n>[_sq](x, w, levels, aux, out, quads,
 * nmax). Weights are read at w (quad layout), or are x^2 for the `_sq` variant (make_qx_quants without
 * weights). Writes the levels l + nmax as float32 at `levels` (quad layout) and each quad's scales at
 * out + 16 q. `aux` is scratch for one quad's candidate levels.
 */
export function qxSearchFunction(n: number, squareWeights: boolean): FunctionBuilder {
  const f = new FunctionBuilder(`qx_${n}${squareWeights ? "_sq" : ""}`, ["i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [x, w, levels, aux, out, quads, nmaxInt] = f.params as [Local, Local, Local, Local, Local, Local, Local];
  const q = f.local("i32");
  const is = f.local("i32");
  const off = f.local("i32");
  const [amax, max, tiny, nmax, lowI, highI, iscale, sumlx, suml2, scale, best, accept, xi, wi, l] = locals(f, 15);
  const zero = f32x4.zero;
  const k = roundingConstants(f);

  f.set(nmax, v128.f32x4ConvertI32S(v128.i32x4Splat(nmaxInt.get())));
  f.set(lowI, v128.i32x4Splat(i32.sub(i32.const(0), nmaxInt.get())));
  f.set(highI, v128.i32x4Splat(i32.sub(nmaxInt.get(), i32.const(1))));
  /** Levels l + nmax of every value for inverse scale `iscale` into `target`, and the sums of the fit. */
  const fit = (target: Local) => {
    f.set(sumlx, zero());
    f.set(suml2, zero());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(wi, squareWeights ? f32x4.mul(xi.get(), xi.get()) : at(w, off));
      f.set(l, v128.f32x4ConvertI32S(nearestIntClamped(f32x4.mul(iscale.get(), xi.get()), lowI.get(), highI.get(), k)));
      f.v128Store(i32.add(target.get(), off.get()), f32x4.add(l.get(), nmax.get()));
      f.set(sumlx, f32x4.add(sumlx.get(), f32x4.mul(f32x4.mul(wi.get(), xi.get()), l.get())));
      f.set(suml2, f32x4.add(suml2.get(), f32x4.mul(f32x4.mul(wi.get(), l.get()), l.get())));
    });
  };
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    // The value of largest magnitude, the first one on ties.
    f.set(amax, zero());
    f.set(max, zero());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(accept, f32x4.gt(f32x4.abs(xi.get()), amax.get()));
      f.set(amax, v128.bitselect(f32x4.abs(xi.get()), amax.get(), accept.get()));
      f.set(max, v128.bitselect(xi.get(), max.get(), accept.get()));
    });
    // Lanes below GROUP_MAX_EPS get levels 0 and scale 0 at the end, whatever they computed.
    f.set(tiny, f32x4.lt(amax.get(), f32x4.const(1e-15)));
    f.set(iscale, f32x4.div(f32x4.neg(nmax.get()), max.get()));
    fit(levels);
    // C's `suml2 ? sumlx / suml2 : 0`.
    f.set(scale, v128.and(f32x4.div(sumlx.get(), suml2.get()), f32x4.ne(suml2.get(), zero())));
    f.set(best, f32x4.mul(scale.get(), sumlx.get()));
    f.forRange(is, i32.const(-9), i32.const(10), i32.const(1), () => {
      f.ifThen(i32.ne(is.get(), i32.const(0)), () => {
        const step = f32x4.mul(f32x4.const(0.1), v128.f32x4ConvertI32S(v128.i32x4Splat(is.get())));
        f.set(iscale, f32x4.div(f32x4.neg(f32x4.add(nmax.get(), step)), max.get()));
        fit(aux);
        f.set(accept, v128.and(f32x4.gt(suml2.get(), zero()), f32x4.gt(f32x4.mul(sumlx.get(), sumlx.get()), f32x4.mul(best.get(), suml2.get()))));
        f.ifThen(v128.anyTrue(accept.get()), () => {
          eachValue(f, off, n, () => f.v128Store(i32.add(levels.get(), off.get()), v128.bitselect(at(aux, off), at(levels, off), accept.get())));
          f.set(scale, v128.bitselect(f32x4.div(sumlx.get(), suml2.get()), scale.get(), accept.get()));
          f.set(best, v128.bitselect(f32x4.mul(scale.get(), sumlx.get()), best.get(), accept.get()));
        });
      });
    });
    eachValue(f, off, n, () => f.v128Store(i32.add(levels.get(), off.get()), v128.andNot(at(levels, off), tiny.get())));
    f.v128Store(out.get(), v128.andNot(scale.get(), tiny.get()));
    f.set(x, i32.add(x.get(), i32.const(16 * n)));
    if (!squareWeights) f.set(w, i32.add(w.get(), i32.const(16 * n)));
    f.set(levels, i32.add(levels.get(), i32.const(16 * n)));
    f.set(out, i32.add(out.get(), i32.const(16)));
  });
  return f;
}

/** The 15 midpoints between neighbouring kvalues_iq4nl levels, as constants of f. */
function iq4Midpoints(f: FunctionBuilder): Local[] {
  return KVALUES_IQ4NL.slice(1).map((v, k) => constant(f, f32x4.const(KVALUES_IQ4NL[k]! + v)));
}

/**
 * best_index_int8 of each lane of x2 = 2x as iq4.ts decides it: the number of midpoints between neighbouring
 * levels that 2x reaches (exact: the midpoints are integers and 2x is exact). Sets idx (int32 lanes).
 */
function iq4Index(f: FunctionBuilder, x2: Local, idx: Local, midpoints: Local[]): void {
  f.set(idx, f32x4.zero());
  // A true lane is -1: subtracting it counts.
  for (const m of midpoints) f.set(idx, v128.i32x4Sub(idx.get(), f32x4.ge(x2.get(), m.get())));
}

/**
 * The scale search of quantize_row_iq4_nl_impl (ntry 7) on `quads` quads of 32-value blocks: iq4_32(x, w, out,
 * quads) reads values and weights (quad layout) and writes each quad's block scales at out + 16 q (0 for
 * blocks below GROUP_MAX_EPS). A value's level is best_index_int8 as iq4.ts decides it: the number of
 * midpoints between neighbouring levels that 2x reaches (exact: the midpoints are integers and 2x is exact).
 */
export function iq4SearchFunction(): FunctionBuilder {
  const n = 32;
  const f = new FunctionBuilder("iq4_32", ["i32", "i32", "i32", "i32"]);
  const [x, w, out, quads] = f.params as [Local, Local, Local, Local];
  const q = f.local("i32");
  const itry = f.local("i32");
  const off = f.local("i32");
  const [amax, max, tiny, id, sumqx, sumq2, d, best, accept, xi, x2, idx, value, wq] = locals(f, 14);
  const xAt = (i: number) => f32x4.load(x.get(), 16 * i);
  const wAt = (i: number) => f32x4.load(w.get(), 16 * i);
  const zero = f32x4.zero;
  // Byte table of the levels for i8x16.swizzle.
  const table = constant(f, v128.i32x4([0, 4, 8, 12].map((k) => KVALUES_IQ4NL.slice(k, k + 4).reduce((acc, v, b) => acc | ((v & 255) << (8 * b)), 0)) as [number, number, number, number]));
  const midpoints = iq4Midpoints(f);

  /** sumqx, sumq2 of every value's best level for inverse scale `id`. */
  const fit = () => {
    f.set(sumqx, zero());
    f.set(sumq2, zero());
    f.forRange(off, i32.const(0), i32.const(16 * n), i32.const(16), () => {
      f.set(xi, f32x4.load(i32.add(x.get(), off.get())));
      f.set(x2, f32x4.mul(id.get(), xi.get()));
      f.set(x2, f32x4.add(x2.get(), x2.get()));
      iq4Index(f, x2, idx, midpoints);
      f.set(value, v128.f32x4ConvertI32S(v128.i32x4ShrS(v128.i32x4Shl(v128.i8x16Swizzle(table.get(), idx.get()), 24), 24)));
      f.set(wq, f32x4.mul(f32x4.load(i32.add(w.get(), off.get())), value.get()));
      f.set(sumqx, f32x4.add(sumqx.get(), f32x4.mul(wq.get(), xi.get())));
      f.set(sumq2, f32x4.add(sumq2.get(), f32x4.mul(wq.get(), value.get())));
    });
  };
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    f.set(amax, zero());
    f.set(max, zero());
    for (let i = 0; i < n; i++) {
      f.set(xi, xAt(i));
      f.set(accept, f32x4.gt(f32x4.abs(xi.get()), amax.get()));
      f.set(amax, v128.bitselect(f32x4.abs(xi.get()), amax.get(), accept.get()));
      f.set(max, v128.bitselect(xi.get(), max.get(), accept.get()));
    }
    f.set(tiny, f32x4.lt(amax.get(), f32x4.const(1e-15)));
    f.set(id, f32x4.div(f32x4.const(1), f32x4.div(f32x4.neg(max.get()), f32x4.const(KVALUES_IQ4NL[0]!))));
    fit();
    f.set(d, v128.and(f32x4.div(sumqx.get(), sumq2.get()), f32x4.gt(sumq2.get(), zero())));
    f.set(best, f32x4.mul(d.get(), sumqx.get()));
    f.forRange(itry, i32.const(-7), i32.const(8), i32.const(1), () => {
      f.set(id, f32x4.div(v128.f32x4ConvertI32S(v128.i32x4Splat(i32.add(itry.get(), i32.const(KVALUES_IQ4NL[0]!)))), max.get()));
      fit();
      f.set(accept, v128.and(f32x4.gt(sumq2.get(), zero()), f32x4.gt(f32x4.mul(sumqx.get(), sumqx.get()), f32x4.mul(best.get(), sumq2.get()))));
      f.set(d, v128.bitselect(f32x4.div(sumqx.get(), sumq2.get()), d.get(), accept.get()));
      f.set(best, v128.bitselect(f32x4.mul(d.get(), sumqx.get()), best.get(), accept.get()));
    });
    f.v128Store(out.get(), v128.andNot(d.get(), tiny.get()));
    f.set(x, i32.add(x.get(), i32.const(16 * n)));
    f.set(w, i32.add(w.get(), i32.const(16 * n)));
    f.set(out, i32.add(out.get(), i32.const(16)));
  });
  return f;
}

/**
 * interleave(src, dst, quads, n): groups of n values (a multiple of 4) one after another at src to the quad
 * layout at dst (4x4 transposes).
 */
export function interleaveFunction(): FunctionBuilder {
  const f = new FunctionBuilder("interleave", ["i32", "i32", "i32", "i32"]);
  const [src, dst, quads, n] = f.params as [Local, Local, Local, Local];
  const [q, i, stride] = [f.local("i32"), f.local("i32"), f.local("i32")];
  const [a, b, c, d, t0, t1, t2, t3] = locals(f, 8);
  f.set(stride, i32.shl(n.get(), i32.const(2)));
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    f.forRange(i, i32.const(0), stride.get(), i32.const(16), () => {
      const row = (g: number) => f32x4.load(i32.add(i32.add(src.get(), i.get()), g === 0 ? i32.const(0) : i32.mul(stride.get(), i32.const(g))));
      f.set(a, row(0));
      f.set(b, row(1));
      f.set(c, row(2));
      f.set(d, row(3));
      f.set(t0, f32x4.shuffle(a.get(), b.get(), [0, 4, 1, 5]));
      f.set(t1, f32x4.shuffle(a.get(), b.get(), [2, 6, 3, 7]));
      f.set(t2, f32x4.shuffle(c.get(), d.get(), [0, 4, 1, 5]));
      f.set(t3, f32x4.shuffle(c.get(), d.get(), [2, 6, 3, 7]));
      const out = i32.add(dst.get(), i32.shl(i.get(), i32.const(2)));
      f.v128Store(out, f32x4.shuffle(t0.get(), t2.get(), [0, 1, 4, 5]));
      f.v128Store(out, f32x4.shuffle(t0.get(), t2.get(), [2, 3, 6, 7]), 16);
      f.v128Store(out, f32x4.shuffle(t1.get(), t3.get(), [0, 1, 4, 5]), 32);
      f.v128Store(out, f32x4.shuffle(t1.get(), t3.get(), [2, 3, 6, 7]), 48);
    });
    f.set(src, i32.add(src.get(), i32.shl(stride.get(), i32.const(2))));
    f.set(dst, i32.add(dst.get(), i32.shl(stride.get(), i32.const(2))));
  });
  return f;
}

/**
 * iq4_codes(x, ids, out, blocks): the nibbles of IQ4_NL / IQ4_XS. For each 32-value block b at x + 128 b with
 * inverse scale ids[b] (float32), the 16 bytes best_index(id x_j) | best_index(id x_(j+16)) << 4 at out + 16 b.
 */
export function iq4CodesFunction(): FunctionBuilder {
  const f = new FunctionBuilder("iq4_codes", ["i32", "i32", "i32", "i32"]);
  const [x, ids, out, blocks] = f.params as [Local, Local, Local, Local];
  const b = f.local("i32");
  const [id, x2, low, high] = locals(f, 4);
  const q = locals(f, 4);
  const midpoints = iq4Midpoints(f);
  f.forRange(b, i32.const(0), blocks.get(), i32.const(1), () => {
    f.set(id, f32x4.loadSplat(ids.get()));
    for (let k = 0; k < 4; k++) {
      for (const [target, offset] of [[low, 16 * k], [high, 64 + 16 * k]] as const) {
        f.set(x2, f32x4.mul(id.get(), f32x4.load(x.get(), offset)));
        f.set(x2, f32x4.add(x2.get(), x2.get()));
        iq4Index(f, x2, target, midpoints);
      }
      f.set(q[k]!, v128.or(low.get(), v128.i32x4Shl(high.get(), 4)));
    }
    f.v128Store(out.get(), lowBytes(q[0]!.get(), q[1]!.get(), q[2]!.get(), q[3]!.get()));
    f.set(x, i32.add(x.get(), i32.const(128)));
    f.set(ids, i32.add(ids.get(), i32.const(4)));
    f.set(out, i32.add(out.get(), i32.const(16)));
  });
  return f;
}

/**
 * make_q3_quants with rmse (quantize_row_q3_K_ref) on `quads` quads of 16-value groups: q3_16(x, levels, out,
 * quads, nmax). Weights x^2. The level refinement goes value by value in each lane, a lane's updates masked by
 * its own tests; passes continue while any lane changed (a pass without changes leaves a lane's state as it
 * was, so repeating it changes nothing). Writes the levels l + nmax (0 for groups below GROUP_MAX_EPS) as
 * float32 at `levels` (quad layout) and each quad's scales at out + 16 q.
 */
export function q3SearchFunction(): FunctionBuilder {
  const n = 16;
  const f = new FunctionBuilder("q3_16", ["i32", "i32", "i32", "i32", "i32"]);
  const [x, levels, out, quads, nmaxInt] = f.params as [Local, Local, Local, Local, Local];
  const [q, off, itry] = [f.local("i32"), f.local("i32"), f.local("i32")];
  const [amax, max, tiny, nmax, lowI, highI, iscale, sumlx, suml2, accept, xi, w, l, slx, sl2, newL, changed, zero] = locals(f, 18);
  const k = roundingConstants(f);
  const clampedLevel = (v: Expr) => v128.f32x4ConvertI32S(nearestIntClamped(v, lowI.get(), highI.get(), k));

  f.set(zero, f32x4.zero());
  f.set(nmax, v128.f32x4ConvertI32S(v128.i32x4Splat(nmaxInt.get())));
  f.set(lowI, v128.i32x4Splat(i32.sub(i32.const(0), nmaxInt.get())));
  f.set(highI, v128.i32x4Splat(i32.sub(nmaxInt.get(), i32.const(1))));
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    // The value of largest magnitude, the first one on ties.
    f.set(amax, zero.get());
    f.set(max, zero.get());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(accept, f32x4.gt(f32x4.abs(xi.get()), amax.get()));
      f.set(amax, v128.bitselect(f32x4.abs(xi.get()), amax.get(), accept.get()));
      f.set(max, v128.bitselect(xi.get(), max.get(), accept.get()));
    });
    f.set(tiny, f32x4.lt(amax.get(), f32x4.const(1e-15)));
    f.set(iscale, f32x4.div(f32x4.neg(nmax.get()), max.get()));
    f.set(sumlx, zero.get());
    f.set(suml2, zero.get());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(l, clampedLevel(f32x4.mul(iscale.get(), xi.get())));
      f.v128Store(i32.add(levels.get(), off.get()), l.get());
      f.set(w, f32x4.mul(xi.get(), xi.get()));
      f.set(sumlx, f32x4.add(sumlx.get(), f32x4.mul(f32x4.mul(w.get(), xi.get()), l.get())));
      f.set(suml2, f32x4.add(suml2.get(), f32x4.mul(f32x4.mul(w.get(), l.get()), l.get())));
    });
    f.set(itry, i32.const(0));
    f.set(changed, v128.i32x4([-1, -1, -1, -1]));
    f.whileTrue(i32.and(i32.ltS(itry.get(), i32.const(5)), v128.anyTrue(changed.get())), () => {
      f.set(changed, zero.get());
      eachValue(f, off, n, () => {
        f.set(xi, at(x, off));
        f.set(l, at(levels, off));
        f.set(w, f32x4.mul(xi.get(), xi.get()));
        f.set(slx, f32x4.sub(sumlx.get(), f32x4.mul(f32x4.mul(w.get(), xi.get()), l.get())));
        f.set(sl2, f32x4.sub(suml2.get(), f32x4.mul(f32x4.mul(w.get(), l.get()), l.get())));
        f.set(newL, clampedLevel(f32x4.div(f32x4.mul(xi.get(), sl2.get()), slx.get())));
        f.set(accept, v128.andNot(f32x4.gt(slx.get(), zero.get()), f32x4.eq(newL.get(), l.get())));
        f.set(slx, f32x4.add(slx.get(), f32x4.mul(f32x4.mul(w.get(), xi.get()), newL.get())));
        f.set(sl2, f32x4.add(sl2.get(), f32x4.mul(f32x4.mul(w.get(), newL.get()), newL.get())));
        const better = f32x4.gt(f32x4.mul(f32x4.mul(slx.get(), slx.get()), suml2.get()), f32x4.mul(f32x4.mul(sumlx.get(), sumlx.get()), sl2.get()));
        f.set(accept, v128.and(accept.get(), v128.and(f32x4.gt(sl2.get(), zero.get()), better)));
        f.v128Store(i32.add(levels.get(), off.get()), v128.bitselect(newL.get(), l.get(), accept.get()));
        f.set(sumlx, v128.bitselect(slx.get(), sumlx.get(), accept.get()));
        f.set(suml2, v128.bitselect(sl2.get(), suml2.get(), accept.get()));
        f.set(changed, v128.or(changed.get(), accept.get()));
      });
      f.set(itry, i32.add(itry.get(), i32.const(1)));
    });
    eachValue(f, off, n, () => f.v128Store(i32.add(levels.get(), off.get()), v128.andNot(f32x4.add(at(levels, off), nmax.get()), tiny.get())));
    f.v128Store(out.get(), v128.andNot(v128.and(f32x4.div(sumlx.get(), suml2.get()), f32x4.gt(suml2.get(), zero.get())), tiny.get()));
    f.set(x, i32.add(x.get(), i32.const(16 * n)));
    f.set(levels, i32.add(levels.get(), i32.const(16 * n)));
    f.set(out, i32.add(out.get(), i32.const(16)));
  });
  return f;
}

/**
 * make_qp_quants on `quads` quads of n-value groups (the sub-block scales or mins of k-quant super-blocks):
 * qp_<n>(x, w, levels, out, quads, nmax). Weights at w. Levels are uint8 in ggml (and in ggml-search.ts): a
 * level is stored, and read back, modulo 256 exactly where the scalar search stores it. Writes the levels
 * (int32, quad layout) at `levels` and each quad's scales at out + 16 q.
 */
export function qpSearchFunction(n: number): FunctionBuilder {
  const f = new FunctionBuilder(`qp_${n}`, ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [x, w, levels, out, quads, nmaxInt] = f.params as [Local, Local, Local, Local, Local, Local];
  const [q, off, is, itry] = [f.local("i32"), f.local("i32"), f.local("i32"), f.local("i32")];
  const [max, tiny, nmax, nmaxI, iscale, iscaleIs, scale, bestMse, mse, xi, wi, li, l, diff, sumlx, suml2, slx, sl2, newL, accept, changed, zero, byte] = locals(f, 23);
  const k = roundingConstants(f);
  /** nearest_int per lane (any input, ggml's bit trick). */
  const nearest = (v: Expr) => v128.i32x4Sub(v128.and(f32x4.add(v, k.magic.get()), k.lowBits.get()), k.bias.get());
  const asFloat = (i: Expr) => v128.f32x4ConvertI32S(i);
  /** The stored (uint8) form of an int level, as float. */
  const stored = (i: Expr) => asFloat(v128.and(i, byte.get()));
  const sq = (d: Local) => f32x4.mul(f32x4.mul(wi.get(), d.get()), d.get());

  f.set(zero, f32x4.zero());
  f.set(byte, v128.i32x4([255, 255, 255, 255]));
  f.set(nmaxI, v128.i32x4Splat(nmaxInt.get()));
  f.set(nmax, asFloat(nmaxI.get()));
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    f.set(max, zero.get());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(max, v128.bitselect(max.get(), xi.get(), f32x4.gt(max.get(), xi.get())));
    });
    f.set(tiny, f32x4.lt(max.get(), f32x4.const(1e-15)));
    f.set(iscale, f32x4.div(nmax.get(), max.get()));
    f.set(scale, f32x4.div(f32x4.const(1), iscale.get()));
    f.set(bestMse, zero.get());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(wi, at(w, off));
      f.set(diff, f32x4.sub(xi.get(), f32x4.mul(scale.get(), stored(nearest(f32x4.mul(iscale.get(), xi.get()))))));
      f.set(bestMse, f32x4.add(bestMse.get(), sq(diff)));
    });
    f.forRange(is, i32.const(-4), i32.const(5), i32.const(1), () => {
      f.ifThen(i32.ne(is.get(), i32.const(0)), () => {
        const step = f32x4.mul(f32x4.const(0.1), asFloat(v128.i32x4Splat(is.get())));
        f.set(iscaleIs, f32x4.div(f32x4.add(step, nmax.get()), max.get()));
        f.set(scale, f32x4.div(f32x4.const(1), iscaleIs.get()));
        f.set(mse, zero.get());
        eachValue(f, off, n, () => {
          f.set(xi, at(x, off));
          f.set(wi, at(w, off));
          f.set(l, asFloat(v128.i32x4MinS(nearest(f32x4.mul(iscaleIs.get(), xi.get())), nmaxI.get())));
          f.set(diff, f32x4.sub(xi.get(), f32x4.mul(scale.get(), l.get())));
          f.set(mse, f32x4.add(mse.get(), sq(diff)));
        });
        f.set(accept, f32x4.lt(mse.get(), bestMse.get()));
        f.set(bestMse, v128.bitselect(mse.get(), bestMse.get(), accept.get()));
        f.set(iscale, v128.bitselect(iscaleIs.get(), iscale.get(), accept.get()));
      });
    });
    f.set(sumlx, zero.get());
    f.set(suml2, zero.get());
    eachValue(f, off, n, () => {
      f.set(xi, at(x, off));
      f.set(wi, at(w, off));
      f.set(l, v128.i32x4MinS(nearest(f32x4.mul(iscale.get(), xi.get())), nmaxI.get()));
      f.v128Store(i32.add(levels.get(), off.get()), v128.and(l.get(), byte.get()));
      f.set(l, asFloat(l.get()));
      f.set(sumlx, f32x4.add(sumlx.get(), f32x4.mul(f32x4.mul(wi.get(), xi.get()), l.get())));
      f.set(suml2, f32x4.add(suml2.get(), f32x4.mul(f32x4.mul(wi.get(), l.get()), l.get())));
    });
    f.set(itry, i32.const(0));
    f.set(changed, v128.i32x4([-1, -1, -1, -1]));
    f.whileTrue(i32.and(i32.ltS(itry.get(), i32.const(5)), v128.anyTrue(changed.get())), () => {
      f.set(changed, zero.get());
      eachValue(f, off, n, () => {
        f.set(xi, at(x, off));
        f.set(wi, at(w, off));
        f.set(li, asFloat(f32x4.load(i32.add(levels.get(), off.get()))));
        f.set(slx, f32x4.sub(sumlx.get(), f32x4.mul(f32x4.mul(wi.get(), xi.get()), li.get())));
        f.set(sl2, f32x4.sub(suml2.get(), f32x4.mul(f32x4.mul(wi.get(), li.get()), li.get())));
        f.set(newL, v128.i32x4MinS(nearest(f32x4.div(f32x4.mul(xi.get(), sl2.get()), slx.get())), nmaxI.get()));
        f.set(l, asFloat(newL.get()));
        f.set(accept, v128.andNot(v128.and(f32x4.gt(slx.get(), zero.get()), f32x4.gt(sl2.get(), zero.get())), f32x4.eq(l.get(), li.get())));
        f.set(slx, f32x4.add(slx.get(), f32x4.mul(f32x4.mul(wi.get(), xi.get()), l.get())));
        f.set(sl2, f32x4.add(sl2.get(), f32x4.mul(f32x4.mul(wi.get(), l.get()), l.get())));
        const better = f32x4.gt(f32x4.mul(f32x4.mul(slx.get(), slx.get()), suml2.get()), f32x4.mul(f32x4.mul(sumlx.get(), sumlx.get()), sl2.get()));
        f.set(accept, v128.and(accept.get(), better));
        f.v128Store(i32.add(levels.get(), off.get()), v128.bitselect(v128.and(newL.get(), byte.get()), f32x4.load(i32.add(levels.get(), off.get())), accept.get()));
        f.set(sumlx, v128.bitselect(slx.get(), sumlx.get(), accept.get()));
        f.set(suml2, v128.bitselect(sl2.get(), suml2.get(), accept.get()));
        f.set(changed, v128.or(changed.get(), accept.get()));
      });
      f.set(itry, i32.add(itry.get(), i32.const(1)));
    });
    eachValue(f, off, n, () => f.v128Store(i32.add(levels.get(), off.get()), v128.andNot(f32x4.load(i32.add(levels.get(), off.get())), tiny.get())));
    f.v128Store(out.get(), v128.andNot(v128.and(f32x4.div(sumlx.get(), suml2.get()), f32x4.gt(suml2.get(), zero.get())), tiny.get()));
    f.set(x, i32.add(x.get(), i32.const(16 * n)));
    f.set(w, i32.add(w.get(), i32.const(16 * n)));
    f.set(levels, i32.add(levels.get(), i32.const(16 * n)));
    f.set(out, i32.add(out.get(), i32.const(16)));
  });
  return f;
}
