/**
 * Dense float64 linear algebra for calibration-based quantization (GPTQ's inverse-Hessian factor and its
 * lazy block updates). Matrices are row-major Float64Arrays. These are the O(n³) steps of a GPTQ run; they
 * live here, beside the other kernels, so a faster implementation can replace them without touching the
 * methods.
 */

/**
 * Cholesky factorisation A = L·Lᵀ of the symmetric n × n matrix `a` (its lower triangle is read), in place:
 * on return the lower triangle holds L and the strict upper triangle is zero. Returns false when A is not
 * (numerically) positive definite; `a` is then partly overwritten.
 */
export function choleskyInPlace(a: Float64Array, n: number): boolean {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j]!;
    for (let k = 0; k < j; k++) d -= a[rj + k]! * a[rj + k]!;
    if (!(d > 0) || !Number.isFinite(d)) return false;
    const ljj = Math.sqrt(d);
    a[rj + j] = ljj;
    const inv = 1 / ljj;
    // L[i][j] = (A[i][j] - Σ_k L[i][k]·L[j][k]) / L[j][j]: dot products of two contiguous row prefixes.
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
      a[ri + j] = s * inv;
    }
    for (let k = j + 1; k < n; k++) a[rj + k] = 0;
  }
  return true;
}

/**
 * Inverts the lower-triangular n × n matrix `l` in place (the strict upper triangle stays zero). Row i of
 * X = L⁻¹ is (eᵢ − Σ_{k<i} L[i][k]·X[k]) / L[i][i], so rows are produced in order from rows already done.
 */
export function invertLowerTriangularInPlace(l: Float64Array, n: number): void {
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    row.fill(0, 0, i + 1);
    for (let k = 0; k < i; k++) {
      const f = l[ri + k]!;
      if (f === 0) continue;
      const rk = k * n;
      for (let c = 0; c <= k; c++) row[c] = row[c]! - f * l[rk + c]!;
    }
    row[i] = 1;
    const inv = 1 / l[ri + i]!;
    for (let c = 0; c <= i; c++) l[ri + c] = row[c]! * inv;
  }
}

/**
 * The upper-triangular U with Uᵀ·U = A⁻¹ (the upper Cholesky factor of the inverse, which GPTQ uses), for the
 * symmetric positive definite n × n matrix `a`, computed in place; returns false when A is not positive
 * definite. Method: with P the order-reversing permutation, P·A·P = L·Lᵀ gives A⁻¹ = (P·L⁻¹·P)ᵀ(P·L⁻¹·P), and
 * P·L⁻¹·P is upper triangular with a positive diagonal, so it is that factor. One Cholesky and one triangular
 * inverse, instead of GPTQ's reference Cholesky → inverse → Cholesky; the result is the same matrix.
 * Reversing a row-major square matrix's flat storage is exactly P·A·P.
 */
export function upperCholeskyOfInverseInPlace(a: Float64Array, n: number): boolean {
  const m = a.subarray(0, n * n);
  m.reverse();
  if (!choleskyInPlace(m, n)) return false;
  invertLowerTriangularInPlace(m, n);
  m.reverse();
  return true;
}

/**
 * C[j][:] −= Σ_k A[k][j] · B[k][:] for j < m, k < depth, over rows of `width` values: C −= Aᵀ·B, with A
 * [depth × m] (row stride lda), B [depth × width] (ldb), C [m × width] (ldc). GPTQ's lazy update of the
 * columns after a block (held as rows of the transposed weight) by the block's scaled errors.
 */
export function subtractTransposedProduct(
  c: Float64Array, cOff: number, ldc: number,
  a: Float64Array, aOff: number, lda: number,
  b: Float64Array, bOff: number, ldb: number,
  m: number, width: number, depth: number,
): void {
  const depth4 = depth - (depth % 4);
  for (let j = 0; j < m; j++) {
    const cj = cOff + j * ldc;
    // Four rows of B per pass over the row of C: a quarter of the loads and stores of C.
    for (let k = 0; k < depth4; k += 4) {
      const f0 = a[aOff + k * lda + j]!;
      const f1 = a[aOff + (k + 1) * lda + j]!;
      const f2 = a[aOff + (k + 2) * lda + j]!;
      const f3 = a[aOff + (k + 3) * lda + j]!;
      const b0 = bOff + k * ldb;
      const b1 = b0 + ldb;
      const b2 = b1 + ldb;
      const b3 = b2 + ldb;
      for (let x = 0; x < width; x++) c[cj + x] = c[cj + x]! - (f0 * b[b0 + x]! + f1 * b[b1 + x]! + f2 * b[b2 + x]! + f3 * b[b3 + x]!);
    }
    for (let k = depth4; k < depth; k++) {
      const f = a[aOff + k * lda + j]!;
      const bk = bOff + k * ldb;
      for (let x = 0; x < width; x++) c[cj + x] = c[cj + x]! - f * b[bk + x]!;
    }
  }
}
