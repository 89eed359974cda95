/** The reference kernels against a plain triple loop in float64, over tile edges, strides and decoded weight rows. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { ReferenceKernels } from "../../src/kernels/kernels.js";
import { gemmNT } from "../../src/kernels/matmul.js";

function naive(m: number, n: number, k: number, a: Float32Array, aOff: number, lda: number, b: Float32Array, bOff: number, ldb: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let r = 0; r < m; r++) for (let o = 0; o < n; o++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += a[aOff + r * lda + i]! * b[bOff + o * ldb + i]!;
    c[r * n + o] = s;
  }
  return c;
}

test("gemmNT equals the triple loop for shapes that do and do not fill 4x4 tiles, with offsets and strides", () => {
  const rnd = new SeededRandom(7);
  for (const [m, n, k] of [[1, 1, 1], [1, 7, 33], [3, 5, 2], [4, 4, 16], [9, 13, 64], [16, 3, 5], [37, 41, 29]] as const) {
    const lda = k + 3;
    const ldb = k + 1;
    const ldc = n + 2;
    const a = rnd.fillNormal(new Float32Array(5 + m * lda), 1);
    const b = rnd.fillNormal(new Float32Array(2 + n * ldb), 1);
    const c = new Float32Array(1 + m * ldc).fill(NaN);
    gemmNT(m, n, k, a, 5, lda, b, 2, ldb, c, 1, ldc);
    const want = naive(m, n, k, a, 5, lda, b, 2, ldb);
    for (let r = 0; r < m; r++) for (let o = 0; o < n; o++) {
      assert.ok(Math.abs(c[1 + r * ldc + o]! - want[r * n + o]!) <= 1e-5 * (1 + Math.abs(want[r * n + o]!)), `${m}x${n}x${k} at ${r},${o}`);
    }
    assert.ok(Number.isNaN(c[0]!), "wrote before the output offset");
  }
});

test("ReferenceKernels.matmul decodes weights block by block (Q8_0 rows) and equals x times the dequantized matrix", () => {
  const rnd = new SeededRandom(3);
  const rows = 7;
  const inDim = 96;
  const outDim = 1000; // several decode blocks and a partial one
  const codec = requireCodec("Q8_0");
  const w = codec.quantize(rnd.fillNormal(new Float32Array(outDim * inDim), 0.1), outDim, inDim);
  const deq = codec.dequantize(w, outDim * inDim);
  const x = rnd.fillNormal(new Float32Array(rows * inDim), 1);
  const y = new Float32Array(rows * outDim);
  new ReferenceKernels().matmul(x, rows, { rows: outDim, cols: inDim, type: tensorType("Q8_0")!, data: w }, y);
  const want = naive(rows, outDim, inDim, x, 0, inDim, deq, 0, inDim);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(y[i]! - want[i]!) <= 1e-5 * (1 + Math.abs(want[i]!)));
});
