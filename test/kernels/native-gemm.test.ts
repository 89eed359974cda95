/**
 * The native paths, bitsmith's addon (AddonGemm, native/gemm.c) and onnxruntime-node's MLAS (OnnxGemm), against a
 * float64 triple loop, within the error bound of a sequential float32 sum (both accumulate each output element
 * along k in one chain per k block); every thread count gives the same bits; the kernels hand them only what
 * they accept and keep the rest on WebAssembly. Each backend's tests skip where it is not built or installed.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import type { Kernels, NativeGemm } from "../../src/kernels/index.js";
import { createNodeKernels } from "../../src/node/kernels.js";
import { AddonGemm, loadNativeAddon } from "../../src/node/addon-gemm.js";
import { OnnxGemm, columnParts, onnxRuntimeInstalled } from "../../src/node/onnx-gemm.js";
import { float64Product } from "../helpers/gemm-error-bound.js";
import { NATIVE_BACKENDS } from "../helpers/native-backends.js";

const open: Kernels[] = [];
after(() => Promise.all(open.map((k) => k.close())));

async function nativeKernels(threads: number, kind: "native" | "onnxruntime"): Promise<Kernels> {
  const k = await createNodeKernels({ threads, kind });
  open.push(k);
  return k;
}

/**
 * C = A·Bᵀ in float64 and the bound (k + ⌈k/256⌉ + 2)·2⁻²⁴·Σ|a·b| per element: k multiply-adds, one addition per
 * block of at most 256 values of k (the addon's KC; MLAS's blocks are longer), the copy.
 */
function reference(m: number, n: number, k: number, a: Float32Array, lda: number, b: Float32Array): { c: Float64Array; bound: Float64Array } {
  const { c, abs } = float64Product(m, n, k, a, 0, lda, b, 0, k);
  return { c, bound: abs.map((t) => (k + Math.ceil(k / 256) + 2) * 2 ** -24 * t + 1e-30) };
}

function assertClose(got: Float32Array, off: number, ld: number, m: number, n: number, want: { c: Float64Array; bound: Float64Array }, what: string): void {
  for (let r = 0; r < m; r++) {
    for (let o = 0; o < n; o++) {
      const g = got[off + r * ld + o]!;
      const w = want.c[r * n + o]!;
      if (!(Math.abs(g - w) <= want.bound[r * n + o]!)) assert.fail(`${what} at [${r}][${o}]: ${g} vs ${w} (bound ${want.bound[r * n + o]})`);
    }
  }
}

test("columnParts covers the columns in at most `threads` ranges of whole 128-column slices (the last takes the rest)", () => {
  for (let n = 1; n <= 1200; n += 7) {
    for (let threads = 1; threads <= 5; threads++) {
      const parts = columnParts(n, threads);
      assert.ok(parts.length >= 1 && parts.length <= threads, `n ${n}, ${threads} threads: ${parts.length} parts`);
      assert.equal(parts[0]![0], 0);
      assert.equal(parts.at(-1)![1], n);
      parts.forEach(([s, e], i) => {
        if (i > 0) assert.equal(s, parts[i - 1]![1]);
        assert.equal(s % 128, 0, `n ${n}: part starts at ${s}`);
        if (parts.length > 1) assert.ok(e - s >= 128, `n ${n}, ${threads} threads: part ${s}..${e}`);
      });
      if (n >= 256 && threads >= 2) assert.ok(parts.length >= 2, `n ${n} is split`);
    }
  }
});

test("the native GEMMs accept only products large enough to pay for a call", () => {
  const g: NativeGemm = new OnnxGemm(2);
  assert.equal(g.accepts(1, 4096, 4096, false, false), false, "GEMV stays on WebAssembly");
  assert.equal(g.accepts(32, 4096, 4096, false, false), false, "so do a few rows");
  assert.equal(g.accepts(512, 64, 64, false, false), false);
  assert.equal(g.accepts(512, 2048, 2048, false, true), true);
  assert.equal(g.accepts(512, 2048, 2048, true, false), false, "MLAS has no float64 sums");
  const addon = loadNativeAddon();
  if (!addon) return;
  const own: NativeGemm = new AddonGemm(2, addon);
  assert.equal(own.accepts(1, 4096, 4096, false, false), true, "GEMV on float32 operands: read once at memory speed");
  assert.equal(own.accepts(1, 4096, 4096, false, true), false, "GEMV on decoded weights stays on WebAssembly (fused there)");
  assert.equal(own.accepts(1, 4096, 4096, true, false), false, "so does a float64 GEMV");
  assert.equal(own.accepts(8, 4096, 4096, false, false), false);
  assert.equal(own.accepts(16, 4096, 4096, false, true), true, "no copies: from 16 rows on");
  assert.equal(own.accepts(16, 4096, 4096, true, true), true, "float64 sums too");
  assert.equal(own.accepts(512, 32, 32, false, false), false);
});

for (const backend of NATIVE_BACKENDS) {
test(`${backend.kind} gemmNT equals the float64 product within a sequential float32 sum's bound, the same bits on 1, 2 and 3 threads (odd shapes, strided C, accumulate)`, { skip: backend.skip }, async () => {
  const rnd = new SeededRandom(5);
  const runs = await Promise.all([1, 2, 3].map((t) => nativeKernels(t, backend.kind)));
  const wasm = await createNodeKernels({ threads: 1, kind: "wasm" });
  open.push(wasm);
  for (const [m, n, k] of [[67, 4095, 257], [64, 300, 999], [65, 1031, 1024], [129, 385, 513], [17, 33, 4095], [1, 1031, 1027], [3, 1027, 1031]] as const) {
    if (!runs[0]!.description.includes("bitsmith native") && m < 64) continue; // onnxruntime takes 64 rows and more
    const a = rnd.fillNormal(new Float32Array(m * k), 1);
    const b = rnd.fillNormal(new Float32Array(n * k), 1);
    const want = reference(m, n, k, a, k, b);
    const ldc = n + 3;
    let first: Float32Array | undefined;
    let single: Float32Array | undefined;
    for (const K of runs) {
      assert.ok(K.description.includes(backend.name), K.description);
      const A = K.allocate(m * k);
      A.set(a);
      const B = K.allocate(n * k);
      B.set(b);
      const C = K.allocate(m * ldc + 1).fill(Number.NaN);
      K.gemmNT(m, n, k, A, 0, k, B, 0, k, C, 1, ldc);
      assertClose(C, 1, ldc, m, n, want, `${m}×${n}×${k} on ${K.threads}`);
      assert.ok(Number.isNaN(C[0]!) && Number.isNaN(C[1 + n]!), "nothing outside C's rows is written");
      single ??= C.slice();
      // Accumulate: C + A·Bᵀ = 2·A·Bᵀ, within twice the bound (the addon adds each k block's sum to C in turn).
      K.gemmNT(m, n, k, A, 0, k, B, 0, k, C, 1, ldc, { accumulate: true });
      assertClose(C, 1, ldc, m, n, { c: want.c.map((v) => 2 * v), bound: want.bound.map((v) => 2 * v) }, `${m}×${n}×${k} accumulated on ${K.threads}`);
      const got = C.slice();
      if (first) assert.deepEqual(got, first, `${m}×${n}×${k}: ${K.threads} threads vs 1`);
      first ??= got;
      for (const v of [A, B, C]) K.release(v);
    }
    // The product really went native: WebAssembly's four-lane sums round differently somewhere.
    const W = wasm.allocate(m * ldc + 1);
    wasm.gemmNT(m, n, k, a, 0, k, b, 0, k, W, 1, ldc);
    let differ = 0;
    for (let r = 0; r < m; r++) for (let o = 0; o < n; o++) if (W[1 + r * ldc + o] !== single![1 + r * ldc + o]) differ++;
    assert.ok(differ > 0, `${m}×${n}×${k}: native and WebAssembly bits differ`);
    wasm.release(W);
  }
});

test(`${backend.kind} matmul decodes F16, Q8_0 and Q4_K weights in kernel memory: close to x·dequantized(W)ᵀ, the same bits on 1 and 3 threads`, { skip: backend.skip }, async () => {
  const rnd = new SeededRandom(9);
  const [one, three] = await Promise.all([1, 3].map((t) => nativeKernels(t, backend.kind)));
  const rows = 64;
  const cols = 512;
  const outDim = 1027;
  const x = rnd.fillNormal(new Float32Array(rows * cols), 1);
  for (const name of ["F16", "Q8_0", "Q4_K"]) {
    const codec = requireCodec(name);
    const data = codec.quantize(rnd.fillNormal(new Float32Array(outDim * cols), 0.1), outDim, cols);
    const want = reference(rows, outDim, cols, x, cols, codec.dequantize(data, outDim * cols));
    let first: Float32Array | undefined;
    for (const K of [one!, three!]) {
      const X = K.allocate(rows * cols);
      X.set(x);
      const w = { rows: outDim, cols, type: tensorType(name)!, data: K.place(data) };
      const y = K.allocate(rows * outDim);
      K.matmul(X, rows, w, y);
      assertClose(y, 0, outDim, rows, outDim, want, `${name} on ${K.threads}`);
      if (first) assert.deepEqual(y.slice(), first, `${name}: 3 threads vs 1`);
      first ??= y.slice();
      for (const v of [X, y, w.data]) K.release(v);
    }
  }
});

}

test("the addon's float64 sums equal the float64 product within float32 rounding of each 256-value block, the same bits on 1, 2 and 3 threads, in gemmNT and in matmul", { skip: NATIVE_BACKENDS[0].skip }, async () => {
  const rnd = new SeededRandom(12);
  const runs = await Promise.all([1, 2, 3].map((t) => nativeKernels(t, "native")));
  for (const [m, n, k] of [[17, 1031, 999], [64, 300, 4095], [129, 9, 513]] as const) {
    const a = rnd.fillNormal(new Float32Array(m * k), 1);
    const b = rnd.fillNormal(new Float32Array(n * k), 1);
    const { c: want, abs } = float64Product(m, n, k, a, 0, k, b, 0, k);
    let first: Float32Array | undefined;
    for (const K of runs) {
      const [A, B, C] = [K.allocate(m * k), K.allocate(n * k), K.allocate(m * n)];
      A.set(a);
      B.set(b);
      K.gemmNT(m, n, k, A, 0, k, B, 0, k, C, 0, n, { accumulation: "float64" });
      for (let i = 0; i < m * n; i++) {
        // Products exact, sums in float64; each block's sum rounds once into C: ⌈k/256⌉ float32 roundings.
        const bound = (Math.ceil(k / 256) + 1) * 2 ** -24 * abs[i]! + 1e-30;
        if (!(Math.abs(C[i]! - want[i]!) <= bound)) assert.fail(`${m}×${n}×${k} on ${K.threads} at ${i}: ${C[i]} vs ${want[i]} (bound ${bound})`);
      }
      if (first) assert.deepEqual(C.slice(), first, `${m}×${n}×${k}: ${K.threads} threads vs 1`);
      first ??= C.slice();
      // Accumulating (GPTQ's updates): C + A·Bᵀ = 2·A·Bᵀ within twice the bound.
      K.gemmNT(m, n, k, A, 0, k, B, 0, k, C, 0, n, { accumulation: "float64", accumulate: true });
      for (let i = 0; i < m * n; i++) {
        const bound = 2 * (Math.ceil(k / 256) + 2) * 2 ** -24 * abs[i]! + 1e-30;
        if (!(Math.abs(C[i]! - 2 * want[i]!) <= bound)) assert.fail(`${m}×${n}×${k} accumulated on ${K.threads} at ${i}: ${C[i]} vs ${2 * want[i]!}`);
      }
      for (const v of [A, B, C]) K.release(v);
    }
  }
  // matmul of Q4_0 weights with llama.cpp's float64 sums goes through the same code.
  const [rows, cols, outDim] = [32, 512, 300];
  const x = rnd.fillNormal(new Float32Array(rows * cols), 1);
  const codec = requireCodec("Q4_0");
  const data = codec.quantize(rnd.fillNormal(new Float32Array(outDim * cols), 0.1), outDim, cols);
  const { c: want, abs } = float64Product(rows, outDim, cols, x, 0, cols, codec.dequantize(data, outDim * cols), 0, cols);
  let first: Float32Array | undefined;
  for (const K of runs) {
    const X = K.allocate(rows * cols);
    X.set(x);
    const w = { rows: outDim, cols, type: tensorType("Q4_0")!, data: K.place(data) };
    const y = K.allocate(rows * outDim);
    K.matmul(X, rows, w, y, "float64");
    for (let i = 0; i < rows * outDim; i++) assert.ok(Math.abs(y[i]! - want[i]!) <= 4 * 2 ** -24 * abs[i]! + 1e-30, `Q4_0 at ${i}: ${y[i]} vs ${want[i]}`);
    if (first) assert.deepEqual(y.slice(), first, `Q4_0: ${K.threads} threads vs 1`);
    first ??= y.slice();
    for (const v of [X, y, w.data]) K.release(v);
  }
});

test("the addon refuses arguments that would reach outside its view, with a clear error and nothing written", { skip: NATIVE_BACKENDS[0].skip }, () => {
  const addon = loadNativeAddon()!;
  const view = new Float32Array(100).fill(7);
  assert.throws(() => addon.gemmNT(view, 4, 4, 8, 0, 8, 32, 8, 90, 4, false, 1, false), /C outside the view/);
  assert.throws(() => addon.gemmNT(view, 4, 4, 8, 70, 8, 0, 8, 0, 4, false, 1, false), /A outside the view/);
  assert.throws(() => addon.gemmNT(view, 4, 4, 8, 0, 8, -1, 8, 90, 4, false, 1, false), /B outside the view/);
  assert.throws(() => addon.gemmNT(view, 4, 4, 8, 0, 4, 32, 8, 64, 4, false, 1, false), /bad shape/);
  assert.throws(() => addon.gemmNT(new Float64Array(4) as unknown as Float32Array, 1, 1, 1, 0, 1, 1, 1, 2, 1, false, 1, false), /Float32Array/);
  assert.ok(view.every((v) => v === 7), "nothing was written");
  // In bounds: 4 × 4 of dot products of eight 7s.
  addon.gemmNT(view, 4, 4, 8, 0, 8, 32, 8, 64, 4, false, 2, false);
  assert.deepEqual([...view.subarray(64, 80)], new Array(16).fill(8 * 49));
});

test("kind \"native\" and \"onnxruntime\" fail clearly where their code is missing, and \"wasm\" uses neither", async () => {
  const wasm = await createNodeKernels({ threads: 2, kind: "wasm" });
  assert.doesNotMatch(wasm.description, /onnxruntime|native/);
  await wasm.close();
  if (!onnxRuntimeInstalled()) await assert.rejects(createNodeKernels({ kind: "onnxruntime" }), /onnxruntime-node/);
  if (!onnxRuntimeInstalled() && !loadNativeAddon()) await assert.rejects(createNodeKernels({ kind: "native" }), /build:native.*onnxruntime-node/);
  const auto = await createNodeKernels({ threads: 2 });
  if (loadNativeAddon()) assert.match(auto.description, /bitsmith native/, "auto prefers the addon");
  await auto.close();
});
