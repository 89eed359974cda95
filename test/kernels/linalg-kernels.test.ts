/**
 * Kernels.upperCholeskyOfInverse (GPTQ's inverse-Hessian factor): the WebAssembly blocked version against the
 * definition (Uᵀ·U·A = I, U upper triangular with a positive diagonal) and against the scalar reference
 * (linalg-f64.ts), on SPD matrices XᵀX/r + damp·I of odd sizes (panel and tile edges: 1, 2, 3, 17, 64, 130,
 * 257, 1000); bit-identical on 1 and 3 threads, with the matrix in the kernels' memory or outside it; false for
 * matrices that are not positive definite.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { ReferenceKernels, WasmKernels } from "../../src/kernels/index.js";
import { upperCholeskyOfInverseInPlace } from "../../src/kernels/linalg-f64.js";
import { wasmKernelsForFile } from "../helpers/wasm-kernels.js";

const kernels = wasmKernelsForFile();

/** XᵀX/r + damp·I for X [r × n] of standard normals, r = 32 (rank 32 plus damping: condition number ≈ n/damp·…). */
function spd(n: number, seed: number, damp = 0.1): Float64Array {
  const rng = new SeededRandom(seed);
  const r = 32;
  const x = Float64Array.from({ length: r * n }, () => rng.normal());
  const a = new Float64Array(n * n);
  for (let k = 0; k < r; k++) {
    const row = x.subarray(k * n, (k + 1) * n);
    for (let i = 0; i < n; i++) {
      const xi = row[i]! / r;
      for (let j = 0; j < n; j++) a[i * n + j] = a[i * n + j]! + xi * row[j]!;
    }
  }
  for (let i = 0; i < n; i++) a[i * n + i] = a[i * n + i]! + damp;
  return a;
}

/** max over random v of ‖Uᵀ·U·A·v − v‖∞ / ‖v‖∞, and U's shape checks. */
function definitionError(u: Float64Array, a: Float64Array, n: number, what: string): number {
  for (let i = 0; i < n; i++) {
    if (!(u[i * n + i]! > 0)) assert.fail(`${what}: U[${i}][${i}] = ${u[i * n + i]}`);
    for (let j = 0; j < i; j++) if (u[i * n + j] !== 0) assert.fail(`${what}: U[${i}][${j}] = ${u[i * n + j]} below the diagonal`);
  }
  const rng = new SeededRandom(5);
  let worst = 0;
  for (let t = 0; t < 3; t++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    const mul = (m: Float64Array, x: Float64Array, transpose: boolean) => {
      const y = new Float64Array(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) y[i] = y[i]! + (transpose ? m[j * n + i]! : m[i * n + j]!) * x[j]!;
      return y;
    };
    const w = mul(u, mul(u, mul(a, v, false), false), true);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < n; i++) {
      err = Math.max(err, Math.abs(w[i]! - v[i]!));
      norm = Math.max(norm, Math.abs(v[i]!));
    }
    worst = Math.max(worst, err / norm);
  }
  return worst;
}

const SIZES = [1, 2, 3, 17, 64, 130, 257, 1000];
/** Relative tolerance: the matrices' condition numbers are below ~n / 0.1 · 32; float64 leaves ample room. */
const TOLERANCE = 1e-10;

test("wasm upperCholeskyOfInverse matches the definition and the reference, same bits on 1 and 3 threads", async () => {
  const one = await kernels(1);
  const three = await kernels(3);
  for (const n of SIZES) {
    const a = spd(n, n);
    const want = Float64Array.from(a);
    assert.ok(upperCholeskyOfInverseInPlace(want, n), `reference n=${n}`);
    const u1 = Float64Array.from(a);
    assert.ok(one.upperCholeskyOfInverse(u1, n), `n=${n}`);
    const u3 = Float64Array.from(a);
    assert.ok(three.upperCholeskyOfInverse(u3, n), `n=${n}, 3 threads`);
    assert.deepEqual(u3, u1, `n=${n}: 3 threads differ from 1`);
    const err = definitionError(u1, a, n, `n=${n}`);
    assert.ok(err <= TOLERANCE, `n=${n}: ‖UᵀUAv − v‖/‖v‖ = ${err}`);
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < n * n; i++) {
      scale = Math.max(scale, Math.abs(want[i]!));
      diff = Math.max(diff, Math.abs(u1[i]! - want[i]!));
    }
    assert.ok(diff <= TOLERANCE * scale, `n=${n}: max |U − U_ref| = ${diff} (max |U_ref| ${scale})`);
  }
});

test("without relaxed SIMD too; in the kernels' memory in place, same bits as copied in", async () => {
  const plain = await kernels(1, false);
  const three = (await kernels(3, false)) as WasmKernels;
  const n = 257;
  const a = spd(n, 3);
  const u = Float64Array.from(a);
  assert.ok(plain.upperCholeskyOfInverse(u, n));
  assert.ok(definitionError(u, a, n, "no fma") <= TOLERANCE);
  const address = three.memory.allocate(8 * n * n)!;
  try {
    const inside = new Float64Array(three.memory.memory.buffer, address, n * n);
    inside.set(a);
    assert.ok(three.upperCholeskyOfInverse(inside, n));
    assert.deepEqual(Float64Array.from(inside), u);
  } finally {
    three.memory.release(address);
  }
});

test("the reference kernels run the scalar reference", () => {
  const a = spd(130, 1);
  const want = Float64Array.from(a);
  upperCholeskyOfInverseInPlace(want, 130);
  const got = Float64Array.from(a);
  assert.ok(new ReferenceKernels().upperCholeskyOfInverse(got, 130));
  assert.deepEqual(got, want);
});

test("false when the matrix is not positive definite (a negative eigenvalue first or last in the order, NaN)", async () => {
  const k = await kernels(3);
  const n = 300;
  for (const at of [0, 150, n - 1]) {
    const a = spd(n, 7);
    // A negative diagonal entry makes that coordinate vector's Rayleigh quotient negative.
    a[at * n + at] = -1;
    assert.equal(k.upperCholeskyOfInverse(a, n), false, `negative diagonal at ${at}`);
  }
  const lowRank = spd(n, 8, 0);
  for (let i = 0; i < n; i++) lowRank[i * n + i] = lowRank[i * n + i]! - 0.5;
  assert.equal(k.upperCholeskyOfInverse(lowRank, n), false, "rank 32 minus 0.5·I");
  for (const [i, j] of [[10, 3], [3, 10], [299, 0], [140, 140]] as const) {
    const a = spd(n, 9);
    a[i * n + j] = NaN;
    a[j * n + i] = NaN;
    assert.equal(k.upperCholeskyOfInverse(a, n), false, `NaN at [${i}][${j}]`);
  }
  assert.equal(k.upperCholeskyOfInverse(new Float64Array(0), 0), true, "n = 0");
});
