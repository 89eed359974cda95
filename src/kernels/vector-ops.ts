/**
 * Row-wise operations of a transformer forward pass, with llama.cpp's CPU arithmetic where it matters for
 * matching its logits: float32 values, sums of squares and softmax denominators accumulated in float64.
 */

/**
 * RMSNorm of `rows` rows of `dim` values: out = x / sqrt(mean(x²) + eps) * weight. As ggml: the sum of
 * squares in double, the scale 1/sqrtf(mean + eps) in float, then the product with the weight.
 */
export function rmsNormRows(x: Float32Array, rows: number, dim: number, weight: Float32Array, eps: number, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let sum = 0;
    for (let i = 0; i < dim; i++) {
      const v = x[o + i]!;
      sum += Math.fround(v * v);
    }
    const mean = Math.fround(sum / dim);
    const scale = Math.fround(1 / Math.fround(Math.sqrt(Math.fround(mean + eps))));
    for (let i = 0; i < dim; i++) out[o + i] = Math.fround(x[o + i]! * scale) * weight[i]!;
  }
}

/**
 * Softmax of `n` values at `offset` in place, after multiplying by `scale`; entries from `validLength` on are
 * masked (-inf, probability 0). Max in float, sum in double.
 */
export function softmaxInPlace(v: Float32Array, offset: number, n: number, scale: number, validLength = n): void {
  let max = -Infinity;
  for (let i = 0; i < validLength; i++) {
    const s = Math.fround(v[offset + i]! * scale);
    v[offset + i] = s;
    if (s > max) max = s;
  }
  let sum = 0;
  for (let i = 0; i < validLength; i++) {
    const e = Math.fround(Math.exp(v[offset + i]! - max));
    v[offset + i] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let i = 0; i < validLength; i++) v[offset + i] = v[offset + i]! * inv;
  for (let i = validLength; i < n; i++) v[offset + i] = 0;
}

/** SwiGLU: gate[i] = silu(gate[i]) * up[i], silu(x) = x / (1 + e^-x). */
export function swigluInPlace(gate: Float32Array, up: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) {
    const g = gate[i]!;
    gate[i] = Math.fround(g / (1 + Math.exp(-g))) * up[i]!;
  }
}

/** x[i] += y[i]. */
export function addInPlace(x: Float32Array, y: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) x[i] = x[i]! + y[i]!;
}

/** Adds `bias` (length `cols`) to every row of x [rows × cols]. */
export function addBiasRows(x: Float32Array, rows: number, cols: number, bias: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) x[o + i] = x[o + i]! + bias[i]!;
  }
}
