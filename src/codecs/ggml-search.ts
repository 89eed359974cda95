/**
 * The scale searches ggml's quantizers share (make_qx_quants, make_q3_quants, make_qkx2_quants,
 * make_qkx3_quants, make_qp_quants in ggml-quants.c), reproduced with float32 semantics: `fr` after every
 * C float operation, in C's evaluation order, sums accumulated in order, no fused multiply-add. Each picks
 * quantized levels L for a group of `n` values starting at x[xo] and returns the group's scale.
 */
import { nearestInt } from "../numeric/float32-ops.js";

const fr = Math.fround;

/** GROUP_MAX_EPS: groups whose largest magnitude is below it count as all zero. */
export const GROUP_MAX_EPS = fr(1e-15);
const F0_1 = fr(0.1);

// Per-call scratch of makeQxQuants, grown on demand.
let qxWeights = new Float32Array(256);
let qxWeightedX = new Float32Array(256);
let qxCandidate = new Int8Array(256);

/** The value of largest magnitude among x[xo..xo+n) with its sign, the first one on ties (ggml's max/amax loop). */
function signedAbsMax(x: Float32Array, xo: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  return max;
}

/**
 * make_qx_quants: symmetric levels L = l + nmax, l in [-nmax, nmax-1], for a scale that maps the value of
 * largest magnitude to -nmax; then (rmseType != 0) 18 nearby scales are tried and the one with the best
 * weighted least-squares fit is kept. Weights: qw[qwo + i] when qw is given, else by rmseType
 * (1: x^2, 2: 1, 3: |x|, other: sqrt|x|). A negative rmseType returns right after the first fit.
 *
 * Speed: a candidate scale giving the same levels as the one before it has the same sums, so its test can
 * neither change the choice nor the result; such candidates skip the sums.
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array | Uint8Array, lo: number, rmseType: number, qw: Float32Array | null, qwo: number): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearestInt(fr(iscale * x[xo + i]!));
      L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
    }
    return fr(1 / iscale);
  }
  let returnEarly = false;
  if (rmseType < 0) {
    rmseType = -rmseType;
    returnEarly = true;
  }
  if (qxWeights.length < n) {
    qxWeights = new Float32Array(n);
    qxWeightedX = new Float32Array(n);
    qxCandidate = new Int8Array(n);
  }
  const w = qxWeights;
  const wx = qxWeightedX;
  const cand = qxCandidate;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    w[i] = qw ? qw[qwo + i]! : rmseType === 1 ? fr(xi * xi) : rmseType === 2 ? 1 : rmseType === 3 ? Math.abs(xi) : fr(Math.sqrt(Math.abs(xi)));
    wx[i] = fr(w[i]! * xi);
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]!))));
    cand[i] = l;
    L[lo + i] = l + nmax;
    sumlx = fr(sumlx + fr(wx[i]! * l));
    suml2 = fr(suml2 + fr(fr(w[i]! * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0; // C's `suml2 ? ...`: NaN counts as true
  if (returnEarly) return suml2 > 0 ? fr(0.5 * fr(scale + fr(1 / iscale))) : fr(1 / iscale);
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(F0_1 * is)) / max);
    let changed = false;
    for (let i = 0; i < n; i++) {
      const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(fr(iscale * x[xo + i]!))));
      if (l !== cand[i]) {
        cand[i] = l;
        changed = true;
      }
    }
    if (!changed) continue;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = cand[i]!;
      sumlx = fr(sumlx + fr(wx[i]! * l));
      suml2 = fr(suml2 + fr(fr(w[i]! * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = cand[i]! + nmax;
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants: like make_qx_quants with x^2 weights, but (doRmse) refines the levels one value at a time
 * (up to 5 passes) instead of trying other scales. L must be signed: it holds l in [-nmax, nmax-1] during the
 * search and l + nmax at the end.
 */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, doRmse: boolean): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fr(-nmax / max);
  if (doRmse) {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      L[lo + i] = l;
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    for (let itry = 0; itry < 5; itry++) {
      let nChanged = 0;
      for (let i = 0; i < n; i++) {
        const xi = x[xo + i]!;
        const w = fr(xi * xi);
        const li = L[lo + i]!;
        let slx = fr(sumlx - fr(fr(w * xi) * li));
        if (slx > 0) {
          let sl2 = fr(suml2 - fr(fr(w * li) * li));
          let newL = nearestInt(fr(fr(xi * sl2) / slx));
          newL = Math.max(-nmax, Math.min(nmax - 1, newL));
          if (newL !== li) {
            slx = fr(slx + fr(fr(w * xi) * newL));
            sl2 = fr(sl2 + fr(fr(w * newL) * newL));
            if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
              L[lo + i] = newL;
              sumlx = slx;
              suml2 = sl2;
              nChanged++;
            }
          }
        }
      }
      if (!nChanged) break;
    }
    for (let i = 0; i < n; i++) L[lo + i] += nmax;
    return suml2 > 0 ? fr(sumlx / suml2) : 0;
  }
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fr(iscale * x[xo + i]!));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
  }
  return fr(1 / iscale);
}

/**
 * make_qkx2_quants / make_qkx3_quants (the same search; qkx3 only adds x^2 weights for NULL, which callers
 * here never pass): asymmetric levels L in [0, nmax] with scale and min (x ~ scale*L - theMin), searching
 * nstep+1 scales around nmax/(max-min) and refitting scale and min by weighted least squares. `weights` holds
 * one weight per value from index 0. The min (as a positive offset) goes to minOut[0].
 *
 * Once a fit is accepted, `min` is that fit's min, which can exceed values of weight 0, so the scaled value
 * can fall far outside nearest_int's range. ggml then clamps the wrapped bit-trick result, and so does
 * nearestInt here: that is what the ggml 0.25 build bundled with node-llama-cpp does (checked on such inputs;
 * the reference vectors do not reach this case). Some sources clamp the scaled value before rounding instead,
 * which gives different bytes in exactly those cases.
 *
 * Speed, without changing the result: a candidate whose levels equal the previous candidate's has the same
 * sums, fit and error, so it can neither beat nor replace the best one and skips its sums. When no weight is
 * negative the error terms are >= 0, so a partial error sum never decreases: once it reaches the best error
 * the candidate has lost and the rest of its sum is skipped. Levels are compared without branches (which
 * mispredict on data).
 */
export function makeQkxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  minOut: Float32Array,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  const x0 = x[xo]!;
  let min = x0;
  let max = x0;
  let sumW = weights[0]!;
  let sumX = fr(sumW * x0);
  let minW = sumW;
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    if (w < minW) minW = w;
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    minOut[0] = -min;
    return 0;
  }
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(fr(iscale * fr(xi - min)))));
    L[lo + i] = l;
    let diff = fr(fr(fr(scale * l) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(weights[i]! * diff));
  }
  if (nstep < 1) {
    minOut[0] = -min;
    return scale;
  }
  const errorsOnlyGrow = minW >= 0;
  Laux.fill(255, 0, n); // no level is 255: the first candidate always counts as changed
  for (let is = 0; is <= nstep; is++) {
    // `min` is the best fit so far, so both the range and the offset move as the search proceeds.
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    let changed = 0;
    for (let i = 0; i < n; i++) {
      // nearest_int inline: in range, adding 1.5 * 2^23 leaves the rounded integer in the low bits.
      const scaled = fr(iscale * fr(x[xo + i]! - min));
      const v = fr(scaled + 12582912);
      let l = v >= 8388608 && v < 16777216 ? (v - 12582912) | 0 : nearestInt(scaled);
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      changed |= l ^ Laux[i]!;
      Laux[i] = l;
    }
    if (!changed) continue;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Laux[i]!;
      const wl = fr(weights[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      let i = 0;
      for (; i < n; i++) {
        const diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        curError = fr(curError + fr(weights[i]! * (useMad ? Math.abs(diff) : fr(diff * diff))));
        if ((i & 7) === 7 && errorsOnlyGrow && !(curError < bestError)) break;
      }
      if (i === n && curError < bestError) {
        for (let k = 0; k < n; k++) L[lo + k] = Laux[k]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  minOut[0] = -min;
  return scale;
}

/**
 * make_qp_quants: non-negative levels L in [0, nmax] for non-negative values (the sub-block scales and mins
 * of the k-quants), weighted by quantWeights; tries 8 nearby scales, then refines levels one at a time.
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, quantWeights: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = max > x[i]! ? max : x[i]!;
  if (max < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  let iscale = fr(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(fr(iscale * x[i]!));
  const scale = fr(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = fr(x[i]! - fr(scale * L[i]!));
    bestMse = fr(bestMse + fr(fr(quantWeights[i]! * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = fr(fr(fr(F0_1 * is) + nmax) / max);
    const scaleIs = fr(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearestInt(fr(iscaleIs * x[i]!)));
      const diff = fr(x[i]! - fr(scaleIs * l));
      mse = fr(mse + fr(fr(quantWeights[i]! * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearestInt(fr(iscale * x[i]!)));
    L[i] = l;
    const w = quantWeights[i]!;
    sumlx = fr(sumlx + fr(fr(w * x[i]!) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let nChanged = 0;
    for (let i = 0; i < n; i++) {
      const w = quantWeights[i]!;
      const xi = x[i]!;
      const li = L[i]!;
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      let sl2 = fr(suml2 - fr(fr(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        const newL = Math.min(nmax, nearestInt(fr(fr(xi * sl2) / slx)));
        if (newL !== li) {
          slx = fr(slx + fr(fr(w * xi) * newL));
          sl2 = fr(sl2 + fr(fr(w * newL) * newL));
          if (fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            nChanged++;
          }
        }
      }
    }
    if (!nChanged) break;
  }
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/** kvalues_iq4nl: the 16 levels of IQ4_NL and IQ4_XS. */
export const KVALUES_IQ4NL: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const kvalues = Float32Array.from(KVALUES_IQ4NL);
/** Sums of neighbouring table entries: x picks entry i once 2x reaches kvalues[i-1] + kvalues[i]. */
const midSums = Float32Array.from(KVALUES_IQ4NL, (v, i) => (i === 0 ? -Infinity : KVALUES_IQ4NL[i - 1]! + v));

/** best_index_int8 for kvalues_iq4nl: branch-free binary search on exact midpoints (2x is exact). */
export function bestIndexIq4nl(x: number): number {
  const x2 = x + x;
  let idx = 0;
  idx = x2 >= midSums[idx + 8]! ? idx + 8 : idx;
  idx = x2 >= midSums[idx + 4]! ? idx + 4 : idx;
  idx = x2 >= midSums[idx + 2]! ? idx + 2 : idx;
  idx = x2 >= midSums[idx + 1]! ? idx + 1 : idx;
  return idx;
}

const IQ4_NTRY = 7;
const iq4Candidate = new Uint8Array(32);

/**
 * The scale search of quantize_row_iq4_nl_impl (ntry 7) for the 32 values at x[xb] with weights w[wo ..]:
 * a first fit at d = max/127, then 15 inverse scales (itry - 127)/max, keeping the best weighted
 * least-squares scale. Returns 0 for a block below GROUP_MAX_EPS.
 *
 * Speed: a try choosing the same codes as the one before has the same sums and cannot change the result.
 */
export function iq4nlBlockScale(x: Float32Array, xb: number, w: Float32Array, wo: number): number {
  const max = signedAbsMax(x, xb, 32);
  if (Math.abs(max) < GROUP_MAX_EPS) return 0;
  let d = fr(-max / -127);
  let id = fr(1 / d);
  let sumqx = 0;
  let sumq2 = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[xb + j]!;
    const q = kvalues[bestIndexIq4nl(fr(id * v))]!;
    const wq = fr(w[wo + j]! * q);
    sumqx = fr(sumqx + fr(wq * v));
    sumq2 = fr(sumq2 + fr(wq * q));
  }
  d = sumq2 > 0 ? fr(sumqx / sumq2) : 0;
  let best = fr(d * sumqx);
  const candidate = iq4Candidate;
  candidate.fill(255);
  for (let itry = -IQ4_NTRY; itry <= IQ4_NTRY; itry++) {
    id = fr((itry - 127) / max);
    let changed = 0;
    for (let j = 0; j < 32; j++) {
      const l = bestIndexIq4nl(fr(id * x[xb + j]!));
      changed |= l ^ candidate[j]!;
      candidate[j] = l;
    }
    if (!changed) continue;
    sumqx = 0;
    sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const q = kvalues[candidate[j]!]!;
      const wq = fr(w[wo + j]! * q);
      sumqx = fr(sumqx + fr(wq * x[xb + j]!));
      sumq2 = fr(sumq2 + fr(wq * q));
    }
    if (sumq2 > 0 && fr(sumqx * sumqx) > fr(best * sumq2)) {
      d = fr(sumqx / sumq2);
      best = fr(d * sumqx);
    }
  }
  return d;
}
