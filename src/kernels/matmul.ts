/**
 * The reference matrix product in plain JavaScript: C = A · Bᵀ over Float32Array with float64 accumulation
 * (JS numbers). ReferenceKernels is built on it, and every fast kernel is tested against it. The engine's use
 * is y = x · Wᵀ, x [rows × inDim] activations, W [outDim × inDim] weights stored as rows (PyTorch's Linear
 * layout, GGUF's ne[0] = inDim).
 */

/**
 * Supplies rows [first, first + count) of W as float32 values, `inDim` apart. It either decodes them into
 * `scratch` (room for `count` rows, starting at offset 0) or returns a view of floats it already holds.
 * Returns the array and the index of row `first` in it.
 */
export type WeightRowReader = (first: number, count: number, scratch: Float32Array) => { data: Float32Array; offset: number };

/**
 * C = A · Bᵀ for A [m × k] and B [n × k], written into C [m × n] (overwriting). Leading dimensions (row
 * strides) and offsets let callers address sub-matrices, e.g. one attention head inside a wider matrix.
 * 4 × 4 register tiles: each inner step loads 4 values of A and 4 of B and does 16 multiply-adds.
 */
export function gemmNT(
  m: number,
  n: number,
  k: number,
  a: Float32Array,
  aOff: number,
  lda: number,
  b: Float32Array,
  bOff: number,
  ldb: number,
  c: Float32Array,
  cOff: number,
  ldc: number,
): void {
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  for (let r = 0; r < m4; r += 4) {
    const a0 = aOff + r * lda;
    const a1 = a0 + lda;
    const a2 = a1 + lda;
    const a3 = a2 + lda;
    for (let o = 0; o < n4; o += 4) {
      const b0 = bOff + o * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let s00 = 0, s01 = 0, s02 = 0, s03 = 0;
      let s10 = 0, s11 = 0, s12 = 0, s13 = 0;
      let s20 = 0, s21 = 0, s22 = 0, s23 = 0;
      let s30 = 0, s31 = 0, s32 = 0, s33 = 0;
      for (let i = 0; i < k; i++) {
        const x0 = a[a0 + i]!, x1 = a[a1 + i]!, x2 = a[a2 + i]!, x3 = a[a3 + i]!;
        const w0 = b[b0 + i]!, w1 = b[b1 + i]!, w2 = b[b2 + i]!, w3 = b[b3 + i]!;
        s00 += x0 * w0; s01 += x0 * w1; s02 += x0 * w2; s03 += x0 * w3;
        s10 += x1 * w0; s11 += x1 * w1; s12 += x1 * w2; s13 += x1 * w3;
        s20 += x2 * w0; s21 += x2 * w1; s22 += x2 * w2; s23 += x2 * w3;
        s30 += x3 * w0; s31 += x3 * w1; s32 += x3 * w2; s33 += x3 * w3;
      }
      let y = cOff + r * ldc + o;
      c[y] = s00; c[y + 1] = s01; c[y + 2] = s02; c[y + 3] = s03;
      y += ldc;
      c[y] = s10; c[y + 1] = s11; c[y + 2] = s12; c[y + 3] = s13;
      y += ldc;
      c[y] = s20; c[y + 1] = s21; c[y + 2] = s22; c[y + 3] = s23;
      y += ldc;
      c[y] = s30; c[y + 1] = s31; c[y + 2] = s32; c[y + 3] = s33;
    }
    if (n4 < n) edgeColumns(r, r + 4, n4, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
  }
  // Leftover rows (a single token while generating lands here): 1 × 4 tiles.
  for (let r = m4; r < m; r++) {
    const a0 = aOff + r * lda;
    for (let o = 0; o < n4; o += 4) {
      const b0 = bOff + o * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < k; i++) {
        const x = a[a0 + i]!;
        s0 += x * b[b0 + i]!;
        s1 += x * b[b1 + i]!;
        s2 += x * b[b2 + i]!;
        s3 += x * b[b3 + i]!;
      }
      const y = cOff + r * ldc + o;
      c[y] = s0; c[y + 1] = s1; c[y + 2] = s2; c[y + 3] = s3;
    }
  }
  if (m4 < m && n4 < n) edgeColumns(m4, m, n4, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc);
}

/** Plain dot products for the columns [o0, o1) that do not fill a 4-wide tile. */
function edgeColumns(
  r0: number, r1: number, o0: number, o1: number, k: number,
  a: Float32Array, aOff: number, lda: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
): void {
  for (let r = r0; r < r1; r++) {
    const ar = aOff + r * lda;
    for (let o = o0; o < o1; o++) {
      const bo = bOff + o * ldb;
      let s = 0;
      for (let i = 0; i < k; i++) s += a[ar + i]! * b[bo + i]!;
      c[cOff + r * ldc + o] = s;
    }
  }
}
