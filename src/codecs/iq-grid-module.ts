/**
 * The grid i-quants' scale search (fitGridScale in iq-grid-search.ts) and neighbour search (bestNeighbour) as
 * scalar WebAssembly, generated with the kernels' emitter: the same float32 operations in the same order, the
 * same neighbour choice (the first minimum), so the same result.
 *
 * grid_fit_<dim>(kmap, lists, levels, positions, xval, weight, waux, L, scratch, n, kMaxQ, isRange, isStep,
 * denominator, scale, refit, initialOnGrid, out) -> status. The lattice: kmap (int32 per key: point or -1),
 * lists (int32 per key: address of its neighbour list, 0 while not built), levels (a byte per coordinate of each
 * point), positions (float32 value of each level, padded to termStride). The sub-block: xval, weight, waux (float32 x n), L (int32
 * levels in, the chosen ones out). refit: 0 always, 1 all groups when one is off the lattice, 2 only the groups
 * off it. Writes the scale (float32) at out and returns 0, or key + 1 when key's neighbour list is needed (build
 * it and call again with the same inputs), or -1 when no neighbour is at a finite distance.
 *
 * A neighbour list (neighbourListLayout): int32 count, the points (uint16 each), then per point the byte offsets
 * of its dim terms in the term table (termStride).
 */
import { FunctionBuilder, f32, f32x4, i32, select } from "../kernels/wasm/wasm-emitter.js";
import type { Expr, Local } from "../kernels/wasm/wasm-emitter.js";

const FLT_MAX = 3.4028234663852886e38;
const MAX_LEVELS = 8;
const align4 = (e: Expr) => i32.and(i32.add(e, i32.const(3)), i32.const(-4));

/**
 * Terms per coordinate in the kernels' term table: the coordinate's levels padded to whole vectors (3 -> 4, 8).
 * A point's terms are read at byte offsets 4 * (coordinate * stride + level).
 */
export const termStride = (levelCount: number) => (levelCount + 3) & ~3;

/** Byte offsets in a neighbour list: where its points and their term offsets start, given its length. */
export function neighbourListLayout(count: number, dim: number): { pointsAt: number; pointTermsAt: number; bytes: number } {
  const pointsAt = 4;
  const pointTermsAt = pointsAt + ((2 * count + 3) & ~3);
  return { pointsAt, pointTermsAt, bytes: pointTermsAt + count * dim };
}

export function gridFitFunction(dim: 4 | 8): FunctionBuilder {
  const bits = dim === 4 ? 3 : 2;
  const f = new FunctionBuilder(`grid_fit_${dim}`, ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32", "f32", "f32", "f32", "i32", "i32", "i32"], ["i32"]);
  const [kmap, lists, levels, positions, xval, weight, waux, L, scratch, n, kMaxQ, isRange, isStep, denominator, scale, refit, initialOnGrid, out] = f.params as Local[] as [
    Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
  ];
  const [groups, top, k, i, is, u, g, list, count, p, best, j, onGridFlag, offGrid, laux, onGrid, onGridAux, fitX, fitQ, terms] = Array.from({ length: 20 }, () => f.local("i32"));
  const [id, thisScale, bestScore, sumqx, sumq2, v, d2, bestD2, w, wx, q] = Array.from({ length: 11 }, () => f.local("f32"));
  /** Rounds group k with inverse scale `idv` into `target`, snapping to the lattice; onGridFlag = on it. */
  const snap = (idv: Local, scaleV: Local, target: Local) => {
    f.set(u, i32.const(0));
    for (let c = 0; c < dim; c++) {
      const at = i32.add(i32.mul(k.get(), i32.const(dim)), i32.const(c));
      f.set(v, f32.mul(f32.const(0.5), f32.sub(f32.mul(idv.get(), f32.load(f32At(xval, at))), f32.const(1))));
      // nearest_int: the rounded integer in the low mantissa bits of v + 1.5 * 2^23.
      f.set(g, i32.sub(i32.and(i32.reinterpretF32(f32.add(v.get(), f32.const(12582912))), i32.const(0x7fffff)), i32.const(0x400000)));
      f.set(g, select(i32.const(0), select(top.get(), g.get(), i32.gtS(g.get(), top.get())), i32.ltS(g.get(), i32.const(0))));
      f.i32Store(f32At(target, at), g.get());
      f.set(u, i32.or(u.get(), i32.shl(g.get(), i32.const(bits * c))));
    }
    f.set(onGridFlag, i32.geS(i32.load(f32At(kmap, u.get())), i32.const(0)));
    f.ifThen(i32.eqz(onGridFlag.get()), () => {
      f.set(list, i32.load(f32At(lists, u.get())));
      f.ifThen(i32.eqz(list.get()), () => f.returnValue(i32.add(u.get(), i32.const(1))));
      bestNeighbour(scaleV, target);
    });
  };

  const [xv, wv, diffV] = [f.local("v128"), f.local("v128"), f.local("v128")];
  const nb: NeighbourSearch = { dim, list, k, levels, positions, xval, waux, terms, count, p, best, j, g, d2, bestD2, xv, wv, diffV };
  const bestNeighbour = (scaleV: Local, target: Local) => {
    emitBestNeighbour(f, nb, scaleV, target);
    f.ifThen(i32.ltS(best.get(), i32.const(0)), () => f.returnValue(i32.const(-1)));
  };

  /** sumqx, sumq2 of the levels in `src` from the tabulated terms, in order. */
  const fitSums = (src: Local) => {
    f.set(sumqx, f32.const(0));
    f.set(sumq2, f32.const(0));
    f.forRange(i, i32.const(0), n.get(), i32.const(1), () => {
      const at = i32.add(i32.shl(i.get(), i32.const(3)), i32.load(f32At(src, i.get())));
      f.set(sumqx, f32.add(sumqx.get(), f32.load(f32At(fitX, at))));
      f.set(sumq2, f32.add(sumq2.get(), f32.load(f32At(fitQ, at))));
    });
  };

  // Scratch: Laux (n int32), onGrid and onGridAux (8 int32 each), fitX and fitQ (n x MAX_LEVELS), terms (32).
  f.set(laux, scratch.get());
  f.set(onGrid, i32.add(laux.get(), i32.shl(n.get(), i32.const(2))));
  f.set(onGridAux, i32.add(onGrid.get(), i32.const(32)));
  f.set(fitX, i32.add(onGridAux.get(), i32.const(32)));
  f.set(fitQ, i32.add(fitX.get(), i32.shl(n.get(), i32.const(5))));
  f.set(terms, i32.add(fitQ.get(), i32.shl(n.get(), i32.const(5))));
  f.set(groups, i32.shrU(n.get(), i32.const(dim === 4 ? 2 : 3)));
  f.set(top, i32.sub(kMaxQ.get(), i32.const(1)));
  // The fit's terms depend on the value and its level only.
  f.forRange(i, i32.const(0), n.get(), i32.const(1), () => {
    f.set(w, f32.load(f32At(weight, i.get())));
    f.set(wx, f32.mul(w.get(), f32.load(f32At(xval, i.get()))));
    f.forRange(j, i32.const(0), kMaxQ.get(), i32.const(1), () => {
      f.set(q, f32.convertI32S(i32.add(i32.shl(j.get(), i32.const(1)), i32.const(1))));
      const at = i32.add(i32.shl(i.get(), i32.const(3)), j.get());
      f.f32Store(f32At(fitX, at), f32.mul(wx.get(), q.get()));
      f.f32Store(f32At(fitQ, at), f32.mul(f32.mul(w.get(), q.get()), q.get()));
    });
  });
  f.set(bestScore, f32.const(0));
  f.forRange(k, i32.const(0), groups.get(), i32.const(1), () => f.i32Store(f32At(onGrid, k.get()), initialOnGrid.get()));
  f.forRange(is, i32.sub(i32.const(0), isRange.get()), i32.add(isRange.get(), i32.const(1)), i32.const(1), () => {
    const base = f32.convertI32S(i32.sub(i32.shl(kMaxQ.get(), i32.const(1)), i32.const(1)));
    f.set(id, f32.div(f32.add(base, f32.mul(f32.convertI32S(is.get()), isStep.get())), denominator.get()));
    f.set(thisScale, f32.div(f32.const(1), id.get()));
    f.forRange(k, i32.const(0), groups.get(), i32.const(1), () => {
      snap(id, thisScale, laux);
      f.i32Store(f32At(onGridAux, k.get()), onGridFlag.get());
    });
    fitSums(laux);
    f.ifThen(i32.and(f32.gt(sumq2.get(), f32.const(0)), f32.gt(f32.mul(sumqx.get(), sumqx.get()), f32.mul(bestScore.get(), sumq2.get()))), () => {
      f.set(scale, f32.div(sumqx.get(), sumq2.get()));
      f.set(bestScore, f32.mul(scale.get(), sumqx.get()));
      f.forRange(i, i32.const(0), n.get(), i32.const(1), () => f.i32Store(f32At(L, i.get()), i32.load(f32At(laux, i.get()))));
      f.forRange(k, i32.const(0), groups.get(), i32.const(1), () => f.i32Store(f32At(onGrid, k.get()), i32.load(f32At(onGridAux, k.get()))));
    });
  });
  f.set(offGrid, i32.const(0));
  f.forRange(k, i32.const(0), groups.get(), i32.const(1), () => f.set(offGrid, i32.add(offGrid.get(), i32.eqz(i32.load(f32At(onGrid, k.get()))))));
  f.ifThen(i32.and(i32.or(i32.eqz(refit.get()), i32.gtS(offGrid.get(), i32.const(0))), f32.gt(scale.get(), f32.const(0))), () => {
    f.set(id, f32.div(f32.const(1), scale.get()));
    f.forRange(k, i32.const(0), groups.get(), i32.const(1), () => {
      f.ifThen(i32.eqz(i32.and(i32.eq(refit.get(), i32.const(2)), i32.load(f32At(onGrid, k.get())))), () => snap(id, scale, L));
    });
    fitSums(L);
    f.ifThen(f32.gt(sumq2.get(), f32.const(0)), () => f.set(scale, f32.div(sumqx.get(), sumq2.get())));
  });
  f.f32Store(out.get(), scale.get());
  f.push(i32.const(0));
  return f;
}

/** The locals find_best_neighbour works with (group k of xval/waux, the list at `list`). */
interface NeighbourSearch {
  dim: 4 | 8;
  list: Local;
  k: Local;
  levels: Local;
  positions: Local;
  xval: Local;
  waux: Local;
  terms: Local;
  count: Local;
  p: Local;
  best: Local;
  j: Local;
  g: Local;
  d2: Local;
  bestD2: Local;
  xv: Local;
  wv: Local;
  diffV: Local;
}

const f32At = (base: Local, index: Expr) => i32.add(base.get(), i32.shl(index, i32.const(2)));

/**
 * ggml's find_best_neighbour for group k among `list`'s points: each (coordinate, level) term once, then each
 * point's distance as the float32 sum of its terms in coordinate order, the first minimum winning. Leaves the
 * winner's position in the list in `best` (-1 when no distance is below FLT_MAX) and, when there is one, its
 * index in `g` and its levels in target[k * dim ..].
 */
function emitBestNeighbour(f: FunctionBuilder, v: NeighbourSearch, scaleV: Local, target: Local): void {
  const { dim, list, k, levels, positions, xval, waux, terms, count, p, best, j, g, d2, bestD2, xv, wv, diffV } = v;
  const vectors = termStride(dim === 4 ? 8 : 3) / 4;
  f.set(count, i32.load(list.get()));
  // Every (coordinate, level) term, a vector of levels at a time (fixed work, no branches): w * (scale*q - x)^2.
  for (let c = 0; c < dim; c++) {
    const at = i32.add(i32.mul(k.get(), i32.const(dim)), i32.const(c));
    f.set(xv, f32x4.splat(f32.load(f32At(xval, at))));
    f.set(wv, f32x4.splat(f32.load(f32At(waux, at))));
    for (let h = 0; h < vectors; h++) {
      f.set(diffV, f32x4.sub(f32x4.mul(f32x4.splat(scaleV.get()), f32x4.load(positions.get(), 16 * h)), xv.get()));
      f.v128Store(terms.get(), f32x4.mul(f32x4.mul(wv.get(), diffV.get()), diffV.get()), 16 * (c * vectors + h));
    }
  }
  const pointsAt = i32.const(4);
  f.set(p, i32.add(list.get(), i32.add(pointsAt, align4(i32.shl(count.get(), i32.const(1))))));
  f.set(bestD2, f32.const(FLT_MAX));
  f.set(best, i32.const(-1));
  const term = (c: number) => f32.load(i32.add(terms.get(), i32.load8U(p.get(), c)));
  f.forRange(j, i32.const(0), count.get(), i32.const(1), () => {
    // All terms, no early exit: a branch on the partial sum mispredicts more than the loads cost.
    f.set(d2, term(0));
    for (let c = 1; c < dim; c++) f.set(d2, f32.add(d2.get(), term(c)));
    f.ifThen(f32.lt(d2.get(), bestD2.get()), () => {
      f.set(bestD2, d2.get());
      f.set(best, j.get());
    });
    f.set(p, i32.add(p.get(), i32.const(dim)));
  });
  f.ifThen(i32.geS(best.get(), i32.const(0)), () => {
    f.set(g, i32.load16U(i32.add(i32.add(list.get(), pointsAt), i32.shl(best.get(), i32.const(1)))));
    for (let c = 0; c < dim; c++) {
      f.i32Store(f32At(target, i32.add(i32.mul(k.get(), i32.const(dim)), i32.const(c))), i32.load8U(i32.add(levels.get(), i32.mul(g.get(), i32.const(dim))), c));
    }
  });
}

/**
 * find_best_neighbour alone: grid_neighbour_<dim>(list, levels, positions, x, w, scale, L, terms) -> the winning
 * point's index, its levels written to L (int32 x dim), or -1; x and w hold the group's values and weights,
 * terms is scratch for 32 float32 (16-aligned); positions holds termStride level values.
 */
export function gridNeighbourFunction(dim: 4 | 8): FunctionBuilder {
  const f = new FunctionBuilder(`grid_neighbour_${dim}`, ["i32", "i32", "i32", "i32", "i32", "f32", "i32", "i32"], ["i32"]);
  const [list, levels, positions, xval, waux, scale, target, terms] = f.params as Local[] as [Local, Local, Local, Local, Local, Local, Local, Local];
  const [k, count, p, best, j, g] = Array.from({ length: 6 }, () => f.local("i32"));
  const [d2, bestD2] = [f.local("f32"), f.local("f32")];
  const [xv, wv, diffV] = [f.local("v128"), f.local("v128"), f.local("v128")];
  f.set(k, i32.const(0));
  emitBestNeighbour(f, { dim, list, k, levels, positions, xval, waux, terms, count, p, best, j, g, d2, bestD2, xv, wv, diffV }, scale, target);
  f.push(select(g.get(), i32.const(-1), i32.geS(best.get(), i32.const(0))));
  return f;
}
