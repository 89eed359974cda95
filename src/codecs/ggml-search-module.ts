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

/** nearest_int's magic 1.5 * 2^23 and the masks that read the rounded integer from its low mantissa bits. */
const MAGIC = 12582912;

/**
 * nearest_int(v) per lane as ggml computes it for any float: add 1.5 * 2^23 in float32, keep the low 23 bits
 * and subtract 2^22 (round half to even for |v| < 2^22, the same wrapped values as C beyond), then clamp to
 * [lo, hi]. Returns int32 lanes.
 */
function nearestIntClamped(v: Expr, lo: Expr, hi: Expr): Expr {
  const bits = v128.and(f32x4.add(v, f32x4.const(MAGIC)), v128.i32x4([0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff]));
  const l = v128.i32x4Sub(bits, v128.i32x4([0x400000, 0x400000, 0x400000, 0x400000]));
  return v128.i32x4MinS(v128.i32x4MaxS(l, lo), hi);
}

const locals = (f: FunctionBuilder, n: number): Local[] => Array.from({ length: n }, () => f.local("v128"));

/**
 * make_qkx2_quants on `quads` quads of n-value groups: qkx_<n>[_mad](x, w, levels, out, quads, nmax, rmin,
 * rdelta, nstep). Reads values at x and weights at w (quad layout); writes the chosen levels as float32 at
 * `levels` (quad layout) and per quad two vectors at out + 32 q: the scales, then the mins as positive offsets
 * (ggml's the_min). `mad` picks the absolute error instead of the squared one.
 */
export function qkxSearchFunction(n: number, mad: boolean): FunctionBuilder {
  const f = new FunctionBuilder(`qkx_${n}${mad ? "_mad" : ""}`, ["i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32", "i32"]);
  const [x, w, levels, out, quads, nmaxInt, rmin, rdelta, nstep] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local, Local];
  const q = f.local("i32");
  const is = f.local("i32");
  const [min, max, sumW, sumX, nmax, zeroI, nmaxI, iscale, scale, bestError, flat] = locals(f, 11);
  const [sumL, sumL2, sumXL, D, thisScale, thisMin, curError, accept, xi, wi, l, wl, diff] = locals(f, 13);
  const aux = locals(f, n);
  const xAt = (i: number) => f32x4.load(x.get(), 16 * i);
  const wAt = (i: number) => f32x4.load(w.get(), 16 * i);
  const zero = f32x4.zero;
  const error = (d: Expr) => (mad ? f32x4.abs(d) : f32x4.mul(d, d));

  f.set(nmaxI, v128.i32x4Splat(nmaxInt.get()));
  f.set(nmax, v128.f32x4ConvertI32S(nmaxI.get()));
  f.set(zeroI, zero());
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    // min, max, sum of weights and of weighted values, in order.
    f.set(min, xAt(0));
    f.set(max, min.get());
    f.set(sumW, wAt(0));
    f.set(sumX, f32x4.mul(sumW.get(), min.get()));
    for (let i = 1; i < n; i++) {
      f.set(xi, xAt(i));
      f.set(wi, wAt(i));
      f.set(min, v128.bitselect(xi.get(), min.get(), f32x4.lt(xi.get(), min.get())));
      f.set(max, v128.bitselect(xi.get(), max.get(), f32x4.gt(xi.get(), max.get())));
      f.set(sumW, f32x4.add(sumW.get(), wi.get()));
      f.set(sumX, f32x4.add(sumX.get(), f32x4.mul(wi.get(), xi.get())));
    }
    f.set(min, v128.bitselect(zero(), min.get(), f32x4.gt(min.get(), zero())));
    // Lanes with max == min return right away (levels 0, scale 0): they never accept a candidate.
    f.set(flat, f32x4.eq(max.get(), min.get()));
    f.set(iscale, f32x4.div(nmax.get(), f32x4.sub(max.get(), min.get())));
    f.set(scale, f32x4.div(f32x4.const(1), iscale.get()));
    f.set(bestError, zero());
    for (let i = 0; i < n; i++) {
      f.set(xi, xAt(i));
      f.set(l, v128.f32x4ConvertI32S(nearestIntClamped(f32x4.mul(iscale.get(), f32x4.sub(xi.get(), min.get())), zeroI.get(), nmaxI.get())));
      f.v128Store(levels.get(), l.get(), 16 * i);
      f.set(diff, f32x4.sub(f32x4.add(f32x4.mul(scale.get(), l.get()), min.get()), xi.get()));
      f.set(bestError, f32x4.add(bestError.get(), f32x4.mul(wAt(i), error(diff.get()))));
    }
    // nstep < 1 returns after the first fit.
    f.set(is, i32.const(0));
    f.whileTrue(i32.and(i32.geS(nstep.get(), i32.const(1)), i32.leS(is.get(), nstep.get())), () => {
      // `min` is each lane's best fit so far, so the range moves as the search proceeds.
      const step = f32x4.mul(f32x4.splat(rdelta.get()), v128.f32x4ConvertI32S(v128.i32x4Splat(is.get())));
      f.set(iscale, f32x4.div(f32x4.add(f32x4.add(f32x4.splat(rmin.get()), step), nmax.get()), f32x4.sub(max.get(), min.get())));
      f.set(sumL, zero());
      f.set(sumL2, zero());
      f.set(sumXL, zero());
      for (let i = 0; i < n; i++) {
        f.set(xi, xAt(i));
        f.set(aux[i]!, v128.f32x4ConvertI32S(nearestIntClamped(f32x4.mul(iscale.get(), f32x4.sub(xi.get(), min.get())), zeroI.get(), nmaxI.get())));
        f.set(wl, f32x4.mul(wAt(i), aux[i]!.get()));
        f.set(sumL, f32x4.add(sumL.get(), wl.get()));
        f.set(sumL2, f32x4.add(sumL2.get(), f32x4.mul(wl.get(), aux[i]!.get())));
        f.set(sumXL, f32x4.add(sumXL.get(), f32x4.mul(wl.get(), xi.get())));
      }
      f.set(D, f32x4.sub(f32x4.mul(sumW.get(), sumL2.get()), f32x4.mul(sumL.get(), sumL.get())));
      f.set(thisScale, f32x4.div(f32x4.sub(f32x4.mul(sumW.get(), sumXL.get()), f32x4.mul(sumX.get(), sumL.get())), D.get()));
      f.set(thisMin, f32x4.div(f32x4.sub(f32x4.mul(sumL2.get(), sumX.get()), f32x4.mul(sumL.get(), sumXL.get())), D.get()));
      // A positive min is replaced by 0 and the scale refitted alone.
      f.set(accept, f32x4.gt(thisMin.get(), zero()));
      f.set(thisScale, v128.bitselect(f32x4.div(sumXL.get(), sumL2.get()), thisScale.get(), accept.get()));
      f.set(thisMin, v128.bitselect(zero(), thisMin.get(), accept.get()));
      f.set(curError, zero());
      for (let i = 0; i < n; i++) {
        f.set(diff, f32x4.sub(f32x4.add(f32x4.mul(thisScale.get(), aux[i]!.get()), thisMin.get()), xAt(i)));
        f.set(curError, f32x4.add(curError.get(), f32x4.mul(wAt(i), error(diff.get()))));
      }
      f.set(accept, v128.andNot(v128.and(f32x4.gt(D.get(), zero()), f32x4.lt(curError.get(), bestError.get())), flat.get()));
      f.ifThen(v128.anyTrue(accept.get()), () => {
        for (let i = 0; i < n; i++) f.v128Store(levels.get(), v128.bitselect(aux[i]!.get(), f32x4.load(levels.get(), 16 * i), accept.get()), 16 * i);
        f.set(bestError, v128.bitselect(curError.get(), bestError.get(), accept.get()));
        f.set(scale, v128.bitselect(thisScale.get(), scale.get(), accept.get()));
        f.set(min, v128.bitselect(thisMin.get(), min.get(), accept.get()));
      });
      f.set(is, i32.add(is.get(), i32.const(1)));
    });
    for (let i = 0; i < n; i++) f.v128Store(levels.get(), v128.andNot(f32x4.load(levels.get(), 16 * i), flat.get()), 16 * i);
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
 * make_qx_quants (rmse_type 1) on `quads` quads of n-value groups: qx_<n>[_sq](x, w, levels, out, quads, nmax).
 * Weights are read at w (quad layout), or are x^2 for the `_sq` variant (make_qx_quants without weights).
 * Writes the levels l + nmax as float32 at `levels` (quad layout) and each quad's scales at out + 16 q.
 */
export function qxSearchFunction(n: number, squareWeights: boolean): FunctionBuilder {
  const f = new FunctionBuilder(`qx_${n}${squareWeights ? "_sq" : ""}`, ["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [x, w, levels, out, quads, nmaxInt] = f.params as [Local, Local, Local, Local, Local, Local];
  const q = f.local("i32");
  const is = f.local("i32");
  const [amax, max, tiny, nmax, lowI, highI, iscale, sumlx, suml2, scale, best, accept, xi, wi, l] = locals(f, 15);
  const xAt = (i: number) => f32x4.load(x.get(), 16 * i);
  const wAt = (i: number) => (squareWeights ? f32x4.mul(xAt(i), xAt(i)) : f32x4.load(w.get(), 16 * i));
  const cand = locals(f, n);
  const zero = f32x4.zero;

  f.set(nmax, v128.f32x4ConvertI32S(v128.i32x4Splat(nmaxInt.get())));
  f.set(lowI, v128.i32x4Splat(i32.sub(i32.const(0), nmaxInt.get())));
  f.set(highI, v128.i32x4Splat(i32.sub(nmaxInt.get(), i32.const(1))));
  /** Levels l in [-nmax, nmax-1] of every value for inverse scale `iscale` into `cand`, and their sums. */
  const fit = () => {
    f.set(sumlx, zero());
    f.set(suml2, zero());
    for (let i = 0; i < n; i++) {
      f.set(xi, xAt(i));
      f.set(wi, wAt(i));
      f.set(l, v128.f32x4ConvertI32S(nearestIntClamped(f32x4.mul(iscale.get(), xi.get()), lowI.get(), highI.get())));
      f.set(cand[i]!, l.get());
      f.set(sumlx, f32x4.add(sumlx.get(), f32x4.mul(f32x4.mul(wi.get(), xi.get()), l.get())));
      f.set(suml2, f32x4.add(suml2.get(), f32x4.mul(f32x4.mul(wi.get(), l.get()), l.get())));
    }
  };
  f.forRange(q, i32.const(0), quads.get(), i32.const(1), () => {
    // The value of largest magnitude, the first one on ties.
    f.set(amax, zero());
    f.set(max, zero());
    for (let i = 0; i < n; i++) {
      f.set(xi, xAt(i));
      f.set(accept, f32x4.gt(f32x4.abs(xi.get()), amax.get()));
      f.set(amax, v128.bitselect(f32x4.abs(xi.get()), amax.get(), accept.get()));
      f.set(max, v128.bitselect(xi.get(), max.get(), accept.get()));
    }
    // Lanes below GROUP_MAX_EPS get levels 0 and scale 0 at the end, whatever they computed.
    f.set(tiny, f32x4.lt(amax.get(), f32x4.const(1e-15)));
    f.set(iscale, f32x4.div(f32x4.neg(nmax.get()), max.get()));
    fit();
    for (let i = 0; i < n; i++) f.v128Store(levels.get(), f32x4.add(cand[i]!.get(), nmax.get()), 16 * i);
    // C's `suml2 ? sumlx / suml2 : 0`.
    f.set(scale, v128.and(f32x4.div(sumlx.get(), suml2.get()), f32x4.ne(suml2.get(), zero())));
    f.set(best, f32x4.mul(scale.get(), sumlx.get()));
    f.forRange(is, i32.const(-9), i32.const(10), i32.const(1), () => {
      f.ifThen(i32.ne(is.get(), i32.const(0)), () => {
        const step = f32x4.mul(f32x4.const(0.1), v128.f32x4ConvertI32S(v128.i32x4Splat(is.get())));
        f.set(iscale, f32x4.div(f32x4.neg(f32x4.add(nmax.get(), step)), max.get()));
        fit();
        f.set(accept, v128.and(f32x4.gt(suml2.get(), zero()), f32x4.gt(f32x4.mul(sumlx.get(), sumlx.get()), f32x4.mul(best.get(), suml2.get()))));
        f.ifThen(v128.anyTrue(accept.get()), () => {
          for (let i = 0; i < n; i++) {
            f.v128Store(levels.get(), v128.bitselect(f32x4.add(cand[i]!.get(), nmax.get()), f32x4.load(levels.get(), 16 * i), accept.get()), 16 * i);
          }
          f.set(scale, v128.bitselect(f32x4.div(sumlx.get(), suml2.get()), scale.get(), accept.get()));
          f.set(best, v128.bitselect(f32x4.mul(scale.get(), sumlx.get()), best.get(), accept.get()));
        });
      });
    });
    for (let i = 0; i < n; i++) f.v128Store(levels.get(), v128.andNot(f32x4.load(levels.get(), 16 * i), tiny.get()), 16 * i);
    f.v128Store(out.get(), v128.andNot(scale.get(), tiny.get()));
    f.set(x, i32.add(x.get(), i32.const(16 * n)));
    if (!squareWeights) f.set(w, i32.add(w.get(), i32.const(16 * n)));
    f.set(levels, i32.add(levels.get(), i32.const(16 * n)));
    f.set(out, i32.add(out.get(), i32.const(16)));
  });
  return f;
}
