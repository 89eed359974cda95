/**
 * IQ1_S's and IQ1_M's split searches (iq1.ts) as WebAssembly, generated with the kernels' emitter: the same
 * float32 operations in the same order as the scalar loops, with candidates tested in the same order against
 * the best score (a vector test first skips the candidates of which none can win), so the same choice.
 *
 * iq1m_split(terms, out): the four shift combinations' sums (w*v*x and w*v*v, v a level value with delta added
 * or subtracted per half) are the four lanes of two vectors, so each term of a split is two vector additions.
 * terms holds, per level lv (0..2) and sorted position j (0..15), the vectors of the w*v*x terms and of the
 * w*v*v terms (at terms + 32 * (16 lv + j), each lane a shift combination); writes the best scale (f32) and
 * i1, i2, k (i32; -1 when no split fits) at out.
 *
 * iq1s_split(tables, out): four consecutive i2 per vector. tables holds ten float32 arrays of IQ1S_TABLE
 * entries (IQ1S_TABLES order), zero-padded past index 32; writes the best scale (f32), i1, i2 (i32) and the
 * shift (+1 / -1, 0 when no split fits) at out.
 */
import { FunctionBuilder, f32, f32x4, i32, v128 } from "../kernels/wasm/wasm-emitter.js";
import type { Expr, Local } from "../kernels/wasm/wasm-emitter.js";

const FLT_MAX = 3.4028234663852886e38;
/** IQ1's shift of the ternary levels (IQ1S_DELTA). */
export const IQ1_DELTA = 0.125;

export function iq1mSplitFunction(): FunctionBuilder {
  const f = new FunctionBuilder("iq1m_split", ["i32", "i32"]);
  const [terms, out] = f.params as [Local, Local];
  const [i1, i2, j, besti1, besti2, bestK] = Array.from({ length: 6 }, () => f.local("i32"));
  const [headX, headQ, midX, midQ, accX, accQ, zero] = Array.from({ length: 7 }, () => f.local("v128"));
  const [bestScore, scale, sqx, sq2] = Array.from({ length: 4 }, () => f.local("f32"));
  /** Address of the term pair of level lv at sorted position p. */
  const at = (lv: number, p: Local) => i32.add(terms.get(), i32.add(i32.const(512 * lv), i32.shl(p.get(), i32.const(5))));
  const add = (x: Local, q: Local, lv: number, p: Local) => {
    f.set(x, f32x4.add(x.get(), f32x4.load(at(lv, p))));
    f.set(q, f32x4.add(q.get(), f32x4.load(at(lv, p), 16)));
  };

  f.set(zero, f32x4.zero());
  f.set(headX, zero.get());
  f.set(headQ, zero.get());
  f.set(bestScore, f32.const(-FLT_MAX));
  f.set(scale, f32.const(0));
  f.set(besti1, i32.const(-1));
  f.set(besti2, i32.const(-1));
  f.set(bestK, i32.const(-1));
  f.forRange(i1, i32.const(0), i32.const(17), i32.const(1), () => {
    f.ifThen(i32.gtS(i1.get(), i32.const(0)), () => {
      f.set(j, i32.sub(i1.get(), i32.const(1)));
      add(headX, headQ, 0, j);
    });
    f.set(midX, headX.get());
    f.set(midQ, headQ.get());
    f.forRange(i2, i1.get(), i32.const(17), i32.const(1), () => {
      f.ifThen(i32.gtS(i2.get(), i1.get()), () => {
        f.set(j, i32.sub(i2.get(), i32.const(1)));
        add(midX, midQ, 1, j);
      });
      f.set(accX, midX.get());
      f.set(accQ, midQ.get());
      f.forRange(j, i2.get(), i32.const(16), i32.const(1), () => add(accX, accQ, 2, j));
      const canWin = v128.and(f32x4.gt(accQ.get(), zero.get()), f32x4.gt(f32x4.mul(accX.get(), accX.get()), f32x4.mul(f32x4.splat(bestScore.get()), accQ.get())));
      f.ifThen(v128.anyTrue(canWin), () => {
        for (let k = 0; k < 4; k++) {
          f.set(sqx, f32x4.extractLane(accX.get(), k));
          f.set(sq2, f32x4.extractLane(accQ.get(), k));
          const wins = i32.and(f32.gt(sq2.get(), f32.const(0)), f32.gt(f32.mul(sqx.get(), sqx.get()), f32.mul(bestScore.get(), sq2.get())));
          f.ifThen(wins, () => {
            f.set(scale, f32.div(sqx.get(), sq2.get()));
            f.set(bestScore, f32.mul(scale.get(), sqx.get()));
            f.set(besti1, i1.get());
            f.set(besti2, i2.get());
            f.set(bestK, i32.const(k));
          });
        }
      });
    });
  });
  f.f32Store(out.get(), scale.get());
  f.i32Store(out.get(), besti1.get(), 4);
  f.i32Store(out.get(), besti2.get(), 8);
  f.i32Store(out.get(), bestK.get(), 12);
  return f;
}

/** Entries per IQ1_S table (33 split indices, padded for 4-lane loads). */
export const IQ1S_TABLE = 36;
/**
 * IQ1_S's tables: prefix sums of w*x and w in sorted order, then per split index the level-0 (head) and
 * level-2 (tail) terms of sum w*v*x (X) and sum w*v*v (Q) with delta added (P) or subtracted (M).
 */
export const IQ1S_TABLES = ["sumx", "sumw", "headXP", "headXM", "headQP", "headQM", "tailXP", "tailXM", "tailQP", "tailQM"] as const;

/** IQ1_S's split search: see the file comment. */
export function iq1sSplitFunction(): FunctionBuilder {
  const f = new FunctionBuilder("iq1s_split", ["i32", "i32"]);
  const [tables, out] = f.params as [Local, Local];
  const [i1, i2, besti1, besti2, bestShift] = Array.from({ length: 5 }, () => f.local("i32"));
  const [sx1, sw1, hxp, hxm, hqp, hqm, s1, w1, xp, qp, xm, qm, zero, laneIndex, x1p, x1m] = Array.from({ length: 16 }, () => f.local("v128"));
  const [bestScore, scale, sqx, sq2] = Array.from({ length: 4 }, () => f.local("f32"));
  const table = (name: (typeof IQ1S_TABLES)[number]) => 4 * IQ1S_TABLE * IQ1S_TABLES.indexOf(name);
  const entry = (name: (typeof IQ1S_TABLES)[number], i: Local) => i32.add(tables.get(), i32.add(i32.const(table(name)), i32.shl(i.get(), i32.const(2))));
  const scalarAt = (name: (typeof IQ1S_TABLES)[number], i: Local) => f32x4.splat(f32.load(entry(name, i)));
  const canWin = (x: Local, q: Local): Expr => v128.and(f32x4.gt(q.get(), zero.get()), f32x4.gt(f32x4.mul(x.get(), x.get()), f32x4.mul(f32x4.splat(bestScore.get()), q.get())));

  f.set(zero, f32x4.zero());
  f.set(laneIndex, v128.i32x4([0, 1, 2, 3]));
  // The level-1 values (0 shifted by +-delta).
  f.set(x1p, f32x4.const(IQ1_DELTA));
  f.set(x1m, f32x4.const(-IQ1_DELTA));
  f.set(bestScore, f32.const(-FLT_MAX));
  f.set(scale, f32.const(0));
  f.set(besti1, i32.const(-1));
  f.set(besti2, i32.const(-1));
  f.set(bestShift, i32.const(0));
  f.forRange(i1, i32.const(0), i32.const(33), i32.const(1), () => {
    f.set(sx1, scalarAt("sumx", i1));
    f.set(sw1, scalarAt("sumw", i1));
    f.set(hxp, scalarAt("headXP", i1));
    f.set(hxm, scalarAt("headXM", i1));
    f.set(hqp, scalarAt("headQP", i1));
    f.set(hqm, scalarAt("headQM", i1));
    f.forRange(i2, i1.get(), i32.const(33), i32.const(4), () => {
      f.set(s1, f32x4.sub(f32x4.load(entry("sumx", i2)), sx1.get()));
      f.set(w1, f32x4.sub(f32x4.load(entry("sumw", i2)), sw1.get()));
      f.set(xp, f32x4.add(f32x4.add(hxp.get(), f32x4.mul(s1.get(), x1p.get())), f32x4.load(entry("tailXP", i2))));
      f.set(qp, f32x4.add(f32x4.add(hqp.get(), f32x4.mul(f32x4.mul(w1.get(), x1p.get()), x1p.get())), f32x4.load(entry("tailQP", i2))));
      f.set(xm, f32x4.add(f32x4.add(hxm.get(), f32x4.mul(s1.get(), x1m.get())), f32x4.load(entry("tailXM", i2))));
      f.set(qm, f32x4.add(f32x4.add(hqm.get(), f32x4.mul(f32x4.mul(w1.get(), x1m.get()), x1m.get())), f32x4.load(entry("tailQM", i2))));
      const inRange = v128.i32x4GtS(v128.i32x4Splat(i32.const(33)), v128.i32x4Add(v128.i32x4Splat(i2.get()), laneIndex.get()));
      f.ifThen(v128.anyTrue(v128.and(inRange, v128.or(canWin(xp, qp), canWin(xm, qm)))), () => {
        for (let lane = 0; lane < 4; lane++) {
          f.ifThen(i32.ltS(i32.add(i2.get(), i32.const(lane)), i32.const(33)), () => {
            for (const [x, q, shift] of [[xp, qp, 1], [xm, qm, -1]] as const) {
              f.set(sqx, f32x4.extractLane(x.get(), lane));
              f.set(sq2, f32x4.extractLane(q.get(), lane));
              const wins = i32.and(f32.gt(sq2.get(), f32.const(0)), f32.gt(f32.mul(sqx.get(), sqx.get()), f32.mul(bestScore.get(), sq2.get())));
              f.ifThen(wins, () => {
                f.set(scale, f32.div(sqx.get(), sq2.get()));
                f.set(bestScore, f32.mul(scale.get(), sqx.get()));
                f.set(besti1, i1.get());
                f.set(besti2, i32.add(i2.get(), i32.const(lane)));
                f.set(bestShift, i32.const(shift));
              });
            }
          });
        }
      });
    });
  });
  f.f32Store(out.get(), scale.get());
  f.i32Store(out.get(), besti1.get(), 4);
  f.i32Store(out.get(), besti2.get(), 8);
  f.i32Store(out.get(), bestShift.get(), 12);
  return f;
}
