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

/**
 * Adds `y` (length `cols`) to every row of x [rows × cols]: a residual sum with rows = 1, a bias otherwise.
 * Float32 sums (the double sum rounded once, as a float32 addition).
 */
export function addRows(x: Float32Array, rows: number, cols: number, y: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let i = 0; i < cols; i++) x[o + i] = x[o + i]! + y[i]!;
  }
}

/** RoPE's pairing of a head's values, by llama.cpp's rope type names. */
export type RopeStyle = "norm" | "neox";

/** The heads of each row RoPE rotates. */
export interface RopeHeads {
  /** "norm" rotates pairs (x[2i], x[2i+1]), "neox" pairs (x[i], x[i + dims/2]). */
  readonly style: RopeStyle;
  readonly count: number;
  /** Values per head. */
  readonly size: number;
  /** Rotated values at the start of each head (even, at most size). */
  readonly dims: number;
}

/**
 * Rotates the heads of `rows` rows of x (row r at r · stride) in place, pair i of every head of row r by the
 * angle whose cos and sin are at r · dims/2 + i. Each result is one float64 expression of the float32 inputs
 * (x0·c − x1·s, x0·s + x1·c) rounded to float32.
 */
export function ropeRows(x: Float32Array, rows: number, stride: number, heads: RopeHeads, cos: Float32Array, sin: Float32Array): void {
  const half = heads.dims / 2;
  // norm: partner of element 2i is 2i+1; neox: partner of i is i + dims/2.
  const step = heads.style === "norm" ? 2 : 1;
  const gap = heads.style === "norm" ? 1 : half;
  for (let r = 0; r < rows; r++) {
    const a = r * half;
    for (let h = 0; h < heads.count; h++) {
      const base = r * stride + h * heads.size;
      for (let i = 0; i < half; i++) {
        const j = base + i * step;
        const c = cos[a + i]!;
        const s = sin[a + i]!;
        const x0 = x[j]!;
        const x1 = x[j + gap]!;
        x[j] = x0 * c - x1 * s;
        x[j + gap] = x0 * s + x1 * c;
      }
    }
  }
}
