/**
 * Log-probabilities from a row of logits the way llama-perplexity computes them: the maximum in float32,
 * Σ expf(logit − max) accumulated in double, log-probability = logit − max − log(sum).
 */

export interface RowNormalizer {
  max: number;
  /** log Σ exp(logit − max), so log p(i) = logit[i] − max − logSum. */
  logSum: number;
  /** Index of the largest logit (the first one on ties). */
  argmax: number;
}

export function normalizeRow(logits: Float32Array, offset: number, vocab: number): RowNormalizer {
  let max = logits[offset]!;
  let argmax = 0;
  for (let i = 1; i < vocab; i++) {
    const v = logits[offset + i]!;
    if (v > max) {
      max = v;
      argmax = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum += Math.fround(Math.exp(logits[offset + i]! - max));
  return { max, logSum: Math.log(sum), argmax };
}

/** Negative log-likelihood of `token` under the row of logits at `offset`. */
export function tokenNll(logits: Float32Array, offset: number, vocab: number, token: number): number {
  const n = normalizeRow(logits, offset, vocab);
  return -(logits[offset + token]! - n.max - n.logSum);
}
