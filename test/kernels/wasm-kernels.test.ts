/**
 * The WebAssembly kernels against a float64 triple loop (the scalar reference), within the float32 summation
 * error bound of their arithmetic, on odd shapes (1, 3, 17, 4095 ...), strides and offsets, operands inside and
 * outside the kernels' memory; with and without relaxed-SIMD FMA; on 1 and 3 threads. Exact invariants: every
 * thread count gives the same bits, and so do the direct (few rows) and packed (many rows) paths and weights
 * decoded in the kernels' memory or outside it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { ReferenceKernels, WasmKernels } from "../../src/kernels/index.js";
import { wasmKernelsForFile } from "../helpers/wasm-kernels.js";
import { float64Product as reference, gemmErrorBound } from "../helpers/gemm-error-bound.js";

const kernels = wasmKernelsForFile();

function assertClose(got: ArrayLike<number>, gotOff: number, ldg: number, want: Float64Array, abs: Float64Array, m: number, n: number, k: number, what: string, float64 = false): void {
  for (let r = 0; r < m; r++) {
    for (let o = 0; o < n; o++) {
      const g = got[gotOff + r * ldg + o]!;
      const w = want[r * n + o]!;
      const b = gemmErrorBound(k, abs[r * n + o]!, float64);
      if (!(Math.abs(g - w) <= b)) assert.fail(`${what} at [${r}][${o}]: ${g} vs ${w} (bound ${b})`);
    }
  }
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 3, 17], [3, 17, 4095], [17, 3, 1], [2, 4095, 3], [4, 5, 1], [5, 4, 513], [17, 17, 17],
  [130, 9, 1030], [4095, 3, 17], [1, 4095, 300], [33, 130, 1], [8, 64, 2048],
];

for (const [label, threads, relaxed] of [["relaxed-SIMD FMA, 1 thread", 1, "auto"], ["mul+add, 1 thread", 1, false], ["3 threads", 3, "auto"]] as const) {
  test(`gemmNT (${label}) equals the float64 product within the error bound of its accumulation on odd shapes, strides and offsets`, async () => {
    const K = await kernels(threads, relaxed);
    const rnd = new SeededRandom(11);
    for (const [m, n, k] of SHAPES) {
      for (const [inMemory, float64] of [[true, false], [false, false], [true, true]] as const) {
        const lda = k + 3;
        const ldb = k + 1;
        const ldc = n + 2;
        const make = (count: number) => (inMemory ? K.allocate(count) : new Float32Array(count));
        const a = make(5 + m * lda);
        const b = make(2 + n * ldb);
        const c = make(1 + m * ldc);
        rnd.fillNormal(a, 1);
        rnd.fillNormal(b, 1);
        c.fill(NaN);
        K.gemmNT(m, n, k, a, 5, lda, b, 2, ldb, c, 1, ldc, { accumulation: float64 ? "float64" : "float32" });
        const { c: want, abs } = reference(m, n, k, a, 5, lda, b, 2, ldb);
        assertClose(c, 1, ldc, want, abs, m, n, k, `${m}x${n}x${k}${inMemory ? "" : " (copied)"}${float64 ? " float64" : ""}`, float64);
        assert.ok(Number.isNaN(c[0]!), "wrote before the output offset");
        for (let r = 0; r < m; r++) for (let j = n; j < ldc && 1 + r * ldc + j < c.length; j++) assert.ok(Number.isNaN(c[1 + r * ldc + j]!), "wrote between rows");
        for (const v of [a, b, c]) K.release(v);
      }
    }
  });
}

test("gemmNT with accumulate adds A·Bᵀ to C; k = 0 clears C or leaves it", async () => {
  const K = await kernels(1);
  const rnd = new SeededRandom(5);
  const [m, n, k] = [9, 13, 700];
  const a = rnd.fillNormal(new Float32Array(m * k), 1);
  const b = rnd.fillNormal(new Float32Array(n * k), 1);
  const c0 = rnd.fillNormal(new Float32Array(m * n), 10);
  const c = c0.slice();
  K.gemmNT(m, n, k, a, 0, k, b, 0, k, c, 0, n, { accumulate: true });
  const { c: want, abs } = reference(m, n, k, a, 0, k, b, 0, k);
  for (let i = 0; i < want.length; i++) {
    want[i]! += c0[i]!;
    abs[i]! += Math.abs(c0[i]!);
  }
  assertClose(c, 0, n, want, abs, m, n, k, "accumulate");
  const kept = c.slice();
  K.gemmNT(m, n, 0, a, 0, k, b, 0, k, c, 0, n, { accumulate: true });
  assert.deepEqual(c, kept);
  K.gemmNT(m, n, 0, a, 0, k, b, 0, k, c, 0, n);
  assert.ok(c.every((v) => v === 0));
});

test("every thread count and both paths (direct for few rows, packed for many) give the same bits", async () => {
  const one = await kernels(1);
  const three = await kernels(3);
  const rnd = new SeededRandom(9);
  for (const [m, n, k] of [[64, 200, 300], [300, 6, 77], [1, 4096, 513], [3, 1000, 1100]] as const) {
    const a = rnd.fillNormal(new Float32Array(m * k), 1);
    const b = rnd.fillNormal(new Float32Array(n * k), 1);
    const c1 = new Float32Array(m * n);
    const c3 = new Float32Array(m * n);
    for (const accumulation of ["float32", "float64"] as const) {
      one.gemmNT(m, n, k, a, 0, k, b, 0, k, c1, 0, n, { accumulation });
      three.gemmNT(m, n, k, a, 0, k, b, 0, k, c3, 0, n, { accumulation });
      assert.deepEqual(c3, c1, `${m}x${n}x${k} ${accumulation}`);
    }
  }
  // Row r alone (direct path) equals row r of a 9-row product (packed path).
  const [m, n, k] = [9, 37, 1500];
  const a = rnd.fillNormal(new Float32Array(m * k), 1);
  const b = rnd.fillNormal(new Float32Array(n * k), 1);
  for (const accumulation of ["float32", "float64"] as const) {
    const all = new Float32Array(m * n);
    one.gemmNT(m, n, k, a, 0, k, b, 0, k, all, 0, n, { accumulation });
    for (let r = 0; r < m; r++) {
      const row = new Float32Array(n);
      one.gemmNT(1, n, k, a, r * k, k, b, 0, k, row, 0, n, { accumulation });
      assert.deepEqual(row, all.subarray(r * n, (r + 1) * n), `row ${r} ${accumulation}`);
    }
  }
});

test("matmul decodes F32, F16, BF16, Q8_0, Q4_0 and Q4_K weights: close to x·dequantized(W)ᵀ, the same bits placed or not, on 1 and 3 threads", async () => {
  const one = await kernels(1);
  const three = await kernels(3);
  const rnd = new SeededRandom(21);
  const rows = 5;
  const cols = 512;
  const outDim = 203;
  const x = rnd.fillNormal(new Float32Array(rows * cols), 1);
  for (const name of ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K"]) {
    const type = tensorType(name)!;
    const data = requireCodec(name).quantize(rnd.fillNormal(new Float32Array(outDim * cols), 0.1), outDim, cols);
    const deq = requireCodec(name).dequantize(data, outDim * cols);
    const { c: want, abs } = reference(rows, outDim, cols, x, 0, cols, deq, 0, cols);
    let first: Float32Array | undefined;
    for (const K of [one, three]) {
      for (const placed of [false, true]) {
        const w = { rows: outDim, cols, type, data: placed ? K.place(data) : data };
        const y = new Float32Array(rows * outDim);
        K.matmul(x, rows, w, y);
        assertClose(y, 0, outDim, want, abs, rows, outDim, cols, `${name}${placed ? " placed" : ""} on ${K.threads}`);
        if (first) assert.deepEqual(y, first, `${name} ${placed ? "placed" : "outside"} on ${K.threads} thread(s)`);
        first ??= y;
        if (placed) K.release(w.data);
      }
    }
  }
});

test("softmaxCausal and swiglu agree with the JavaScript reference within a float32 rounding (odd lengths, masks)", async () => {
  const K = await kernels(1);
  const reference = new ReferenceKernels();
  const rnd = new SeededRandom(31);
  const ulps = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b) * 2 ** -23, 2 ** -149);
  for (const [rows, cols, first] of [[1, 1, 0], [3, 3, 0], [5, 17, 9], [16, 130, 100], [2, 4095, 4000]] as const) {
    const scores = rnd.fillNormal(K.allocate(rows * cols), 4);
    const want = scores.slice();
    K.softmaxCausal(scores, 0, rows, cols, 1 / Math.sqrt(8), first);
    reference.softmaxCausal(want, 0, rows, cols, 1 / Math.sqrt(8), first);
    for (let i = 0; i < want.length; i++) assert.ok(ulps(scores[i]!, want[i]!) <= 1, `softmax ${rows}x${cols} at ${i}: ${scores[i]} vs ${want[i]}`);
    K.release(scores);
  }
  for (const count of [1, 3, 4, 17, 1001]) {
    const gate = rnd.fillNormal(K.allocate(count), 3);
    const up = rnd.fillNormal(K.allocate(count), 1);
    gate[0] = -200; // e^200 overflows float32, not float64
    const want = gate.slice();
    K.swiglu(gate, up, count);
    reference.swiglu(want, up, count);
    for (let i = 0; i < count; i++) assert.ok(ulps(gate[i]!, want[i]!) <= 1, `swiglu ${count} at ${i}: ${gate[i]} vs ${want[i]}`);
    K.release(gate);
    K.release(up);
  }
});

test("without shared memory (a browser page that is not cross-origin isolated) the kernels copy operands in and agree", async () => {
  const K = await WasmKernels.create({ memory: { shared: false } });
  const rnd = new SeededRandom(41);
  const [m, n, k] = [6, 70, 320];
  const a = K.allocate(m * k);
  assert.ok(!(a.buffer instanceof SharedArrayBuffer), "allocate gives plain arrays");
  rnd.fillNormal(a, 1);
  const b = rnd.fillNormal(new Float32Array(n * k), 1);
  const c = new Float32Array(m * n);
  K.gemmNT(m, n, k, a, 0, k, b, 0, k, c, 0, n);
  const { c: want, abs } = reference(m, n, k, a, 0, k, b, 0, k);
  assertClose(c, 0, n, want, abs, m, n, k, "unshared");
  const data = requireCodec("Q8_0").quantize(b, n, k);
  const y = new Float32Array(m * n);
  K.matmul(a, m, { rows: n, cols: k, type: tensorType("Q8_0")!, data: K.place(data) }, y, "float64");
  const deq = requireCodec("Q8_0").dequantize(data, n * k);
  const r = reference(m, n, k, a, 0, k, deq, 0, k);
  assertClose(y, 0, n, r.c, r.abs, m, n, k, "unshared Q8_0", true);
});
