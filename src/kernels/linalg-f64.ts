/**
 * Dense float64 linear algebra for calibration-based quantization: GPTQ's inverse-Hessian factor. Matrices are
 * row-major Float64Arrays. These are O(n³) steps of a GPTQ run; they live here, beside the other kernels, so a
 * faster implementation can replace them without touching the methods.
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
    const j4 = j - (j % 4);
    // L[i][j] = (A[i][j] − Σ_k L[i][k]·L[j][k]) / L[j][j]: dot products of two contiguous row prefixes, four
    // partial sums at a time (independent additions pipeline better than one chain).
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0; k < j4; k += 4) {
        s0 += a[ri + k]! * a[rj + k]!;
        s1 += a[ri + k + 1]! * a[rj + k + 1]!;
        s2 += a[ri + k + 2]! * a[rj + k + 2]!;
        s3 += a[ri + k + 3]! * a[rj + k + 3]!;
      }
      let s = a[ri + j]! - (s0 + s1 + (s2 + s3));
      for (let k = j4; k < j; k++) s -= a[ri + k]! * a[rj + k]!;
      a[ri + j] = s * inv;
    }
    for (let k = j + 1; k < n; k++) a[rj + k] = 0;
  }
  return true;
}

/**
 * Inverts the lower-triangular n × n matrix `l` in place (the strict upper triangle stays zero). Row i of
 * X = L⁻¹ is (eᵢ − Σ_{k<i} L[i][k]·X[k]) / L[i][i], so rows are produced in order from rows already done; four
 * rows X[k..k+3] are folded in per pass over the new row.
 */
export function invertLowerTriangularInPlace(l: Float64Array, n: number): void {
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    row.fill(0, 0, i + 1);
    const i4 = i - (i % 4);
    for (let k = 0; k < i4; k += 4) {
      const f0 = l[ri + k]!, f1 = l[ri + k + 1]!, f2 = l[ri + k + 2]!, f3 = l[ri + k + 3]!;
      const r0 = k * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
      for (let c = 0; c <= k; c++) row[c] = row[c]! - (f0 * l[r0 + c]! + f1 * l[r1 + c]! + f2 * l[r2 + c]! + f3 * l[r3 + c]!);
      // X[k+1..k+3] reach past column k (lower triangular).
      row[k + 1] = row[k + 1]! - (f1 * l[r1 + k + 1]! + f2 * l[r2 + k + 1]! + f3 * l[r3 + k + 1]!);
      row[k + 2] = row[k + 2]! - (f2 * l[r2 + k + 2]! + f3 * l[r3 + k + 2]!);
      row[k + 3] = row[k + 3]! - f3 * l[r3 + k + 3]!;
    }
    for (let k = i4; k < i; k++) {
      const f = l[ri + k]!;
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
