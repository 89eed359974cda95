/**
 * KL divergence of a model ("Q") from a base model, position by position, with the statistics
 * llama-perplexity --kl-divergence prints: PPL(Q), PPL(base), their correlation, ratio and difference; mean
 * KLD and its percentiles; Δp = p_Q(token) − p_base(token) with its percentiles and RMS; how often both
 * models have the same top token. Uncertainties are computed as llama.cpp does.
 *
 * The base distribution of a position is given as a set of tokens with their log-probabilities (the whole
 * vocabulary when the base model runs alongside, or the most probable tokens from a saved file). Tokens
 * outside the set are one bucket holding the remaining probability mass, so with a partial set the value is
 * the KL divergence between the two distributions coarsened to (set + rest): a lower bound of the full
 * KL divergence that differs from it only through how the two models spread the excluded mass.
 */
import { normalizeRow } from "./log-softmax.js";

/** The base model's distribution at one position. */
export interface BaseDistribution {
  /** log p_base of the token that follows (exact). */
  targetLogProb: number;
  /** The most probable token of the base model. */
  top: number;
  /** Token ids of the set and their log-probabilities; `count` entries are used. */
  ids: ArrayLike<number>;
  logProbs: ArrayLike<number>;
  count: number;
}

export interface ValueWithError {
  value: number;
  error: number;
}

export interface KldPercentiles {
  max: number;
  p99_9: number;
  p99: number;
  p95: number;
  p90: number;
  median: number;
  p10: number;
  p5: number;
  p1: number;
  p0_1: number;
  min: number;
}

export interface KldReport {
  count: number;
  pplQ: ValueWithError;
  pplBase: ValueWithError;
  /** Correlation of the per-token ln-probabilities' means (llama.cpp's Cor(ln(PPL(Q)), ln(PPL(base)))). */
  lnPplCorrelation: number;
  lnPplRatio: ValueWithError;
  pplRatio: ValueWithError;
  pplDiff: ValueWithError;
  kld: ValueWithError & KldPercentiles;
  /** Δp in probability units (llama.cpp prints them ×100 as %). */
  deltaP: ValueWithError & KldPercentiles & { p75: number; p25: number; rms: ValueWithError };
  sameTop: ValueWithError;
}

function meanAndError(sum: number, sum2: number, count: number): ValueWithError {
  if (count < 1) return { value: 0, error: 0 };
  const f = sum / count;
  const v = sum2 / count - f * f;
  return { value: f, error: v > 0 && count > 10 ? Math.sqrt(v / (count - 1)) : 0 };
}

function covariance(a: number, b: number, ab: number, count: number): number {
  if (count < 10) return 0;
  return (ab / count - (a / count) * (b / count)) / (count - 1);
}

/** llama.cpp's percentile: linear interpolation between sorted neighbours. */
function percentile(sorted: Float32Array, fraction: number): number {
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[sorted.length - 1]!;
  let p = fraction * (sorted.length - 1);
  const ip = Math.floor(p);
  p -= ip;
  return (1 - p) * sorted[ip]! + p * sorted[Math.min(ip + 1, sorted.length - 1)]!;
}

function median(sorted: Float32Array): number {
  const n = sorted.length;
  return n % 2 === 0 ? 0.5 * (sorted[n / 2]! + sorted[n / 2 - 1]!) : sorted[(n - 1) / 2]!;
}

function percentiles(values: Float32Array): KldPercentiles {
  const s = values.slice().sort();
  return {
    max: s[s.length - 1]!,
    p99_9: percentile(s, 0.999),
    p99: percentile(s, 0.99),
    p95: percentile(s, 0.95),
    p90: percentile(s, 0.9),
    median: median(s),
    p10: percentile(s, 0.1),
    p5: percentile(s, 0.05),
    p1: percentile(s, 0.01),
    p0_1: percentile(s, 0.001),
    min: s[0]!,
  };
}

export class KldAccumulator {
  private sumNll = 0;
  private sumNll2 = 0;
  private sumNllBase = 0;
  private sumNllBase2 = 0;
  private sumNllNllBase = 0;
  private sumKld = 0;
  private sumKld2 = 0;
  private sumPDiff = 0;
  private sumPDiff2 = 0;
  private sumPDiff4 = 0;
  private sameTop = 0;
  private kldValues: number[] = [];
  private pDiffValues: number[] = [];

  get count(): number {
    return this.kldValues.length;
  }

  /** Adds one position: the model's logits row at `offset`, the token that follows, the base distribution. */
  add(logits: Float32Array, offset: number, vocab: number, token: number, base: BaseDistribution): void {
    const n = normalizeRow(logits, offset, vocab);
    const logQ = (i: number) => logits[offset + i]! - n.max - n.logSum;
    const nll = -logQ(token);
    const nllBase = -base.targetLogProb;
    this.sumNll += nll;
    this.sumNll2 += nll * nll;
    this.sumNllBase += nllBase;
    this.sumNllBase2 += nllBase * nllBase;
    this.sumNllNllBase += nll * nllBase;

    let kld = 0;
    let massBase = 0;
    let massQ = 0;
    for (let j = 0; j < base.count; j++) {
      const lp = base.logProbs[j]!;
      const lq = logQ(base.ids[j]!);
      const p = Math.exp(lp);
      kld += p * (lp - lq);
      massBase += p;
      massQ += Math.exp(lq);
    }
    // The tokens outside the set, as one bucket (nothing is left when the set is the whole vocabulary).
    const restBase = 1 - massBase;
    if (base.count < vocab && restBase > 0) kld += restBase * (Math.log(restBase) - Math.log(Math.max(1 - massQ, Number.MIN_VALUE)));
    this.sumKld += kld;
    this.sumKld2 += kld * kld;
    if (n.argmax === base.top) this.sameTop++;

    const pDiff = Math.exp(-nll) - Math.exp(-nllBase);
    this.sumPDiff += pDiff;
    this.sumPDiff2 += pDiff * pDiff;
    this.sumPDiff4 += pDiff * pDiff * pDiff * pDiff;
    this.kldValues.push(kld);
    this.pDiffValues.push(pDiff);
  }

  report(): KldReport {
    const count = this.count;
    const lnQ = meanAndError(this.sumNll, this.sumNll2, count);
    const lnBase = meanAndError(this.sumNllBase, this.sumNllBase2, count);
    const cov = covariance(this.sumNll, this.sumNllBase, this.sumNllNllBase, count);
    const pplQ = Math.exp(lnQ.value);
    const pplBase = Math.exp(lnBase.value);
    const ratioLn = lnQ.value - lnBase.value;
    const ratioLnError = Math.sqrt(Math.max(0, lnQ.error * lnQ.error + lnBase.error * lnBase.error - 2 * cov));
    const pplQError = pplQ * lnQ.error;
    const pplBaseError = pplBase * lnBase.error;
    const diffError = Math.sqrt(Math.max(0, pplQError * pplQError + pplBaseError * pplBaseError - 2 * pplQ * pplBase * cov));
    const mse = meanAndError(this.sumPDiff2, this.sumPDiff4, count);
    const rms = Math.sqrt(mse.value);
    const top = count > 0 ? this.sameTop / count : 0;
    const empty = new Float32Array([0]);
    const kldValues = count > 0 ? Float32Array.from(this.kldValues) : empty;
    const pDiffValues = count > 0 ? Float32Array.from(this.pDiffValues) : empty;
    const pDiffSorted = pDiffValues.slice().sort();
    return {
      count,
      pplQ: { value: pplQ, error: pplQError },
      pplBase: { value: pplBase, error: pplBaseError },
      lnPplCorrelation: lnQ.error > 0 && lnBase.error > 0 ? cov / (lnQ.error * lnBase.error) : 0,
      lnPplRatio: { value: ratioLn, error: ratioLnError },
      pplRatio: { value: Math.exp(ratioLn), error: Math.exp(ratioLn) * ratioLnError },
      pplDiff: { value: pplQ - pplBase, error: diffError },
      kld: { ...meanAndError(this.sumKld, this.sumKld2, count), ...percentiles(kldValues) },
      deltaP: {
        ...meanAndError(this.sumPDiff, this.sumPDiff2, count),
        ...percentiles(pDiffValues),
        p75: percentile(pDiffSorted, 0.75),
        p25: percentile(pDiffSorted, 0.25),
        rms: { value: rms, error: rms > 0 ? (0.5 / rms) * mse.error : 0 },
      },
      sameTop: { value: top, error: count > 1 ? Math.sqrt((top * (1 - top)) / (count - 1)) : 0 },
    };
  }
}

/** The whole-vocabulary distribution of a row of base logits. */
export function fullDistribution(logits: Float32Array, offset: number, vocab: number, token: number, scratch: { ids: Int32Array; logProbs: Float64Array }): BaseDistribution {
  const n = normalizeRow(logits, offset, vocab);
  for (let i = 0; i < vocab; i++) scratch.logProbs[i] = logits[offset + i]! - n.max - n.logSum;
  return { targetLogProb: scratch.logProbs[token]!, top: n.argmax, ids: scratch.ids, logProbs: scratch.logProbs, count: vocab };
}
