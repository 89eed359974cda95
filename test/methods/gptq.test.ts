/**
 * GPTQ against a direct float64 transcription of the published algorithm (Frantar et al. 2022, Algorithm 1
 * without lazy batches, with GPTQ's group quantizer), written here independently: explicit matrix inverse by
 * Gauss-Jordan elimination, Cholesky of the inverse, then one column at a time.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { gptqQuantize } from "../../src/methods/gptq.js";
import { upperCholeskyOfInverseInPlace } from "../../src/kernels/linalg-f64.js";
import { dequantizeLinear } from "../../src/formats/quantized-hf/index.js";
import { f16ToF32, f32ToF16 } from "../../src/numeric/half.js";

const ROWS = 16;
const COLS = 32;

/** Correlated inputs (a random mixing of independent features) and weights with a few large columns. */
function layer(seed: number, tokens = 256, COLS = 32): { w: Float32Array; x: Float64Array; h: Float64Array } {
  const rng = new SeededRandom(seed);
  const mix = Float64Array.from({ length: COLS * COLS }, () => rng.normal() * 0.3);
  for (let i = 0; i < COLS; i++) mix[i * COLS + i] = mix[i * COLS + i]! + 1;
  const x = new Float64Array(tokens * COLS);
  for (let t = 0; t < tokens; t++) {
    const z = Array.from({ length: COLS }, () => rng.normal());
    for (let c = 0; c < COLS; c++) {
      let s = 0;
      for (let k = 0; k < COLS; k++) s += z[k]! * mix[k * COLS + c]!;
      x[t * COLS + c] = s * (c % 7 === 0 ? 4 : 1);
    }
  }
  const w = Float32Array.from({ length: ROWS * COLS }, (_, i) => rng.normal() * 0.05 * (i % COLS === 3 ? 5 : 1));
  const h = new Float64Array(COLS * COLS);
  for (let t = 0; t < tokens; t++) for (let i = 0; i < COLS; i++) for (let j = 0; j < COLS; j++) h[i * COLS + j] = h[i * COLS + j]! + (2 / tokens) * x[t * COLS + i]! * x[t * COLS + j]!;
  return { w, x, h };
}

function invert(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a);
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]!) > Math.abs(m[p * n + c]!)) p = r;
    for (let k = 0; k < n; k++) {
      [m[c * n + k], m[p * n + k]] = [m[p * n + k]!, m[c * n + k]!];
      [inv[c * n + k], inv[p * n + k]] = [inv[p * n + k]!, inv[c * n + k]!];
    }
    const d = m[c * n + c]!;
    for (let k = 0; k < n; k++) {
      m[c * n + k] = m[c * n + k]! / d;
      inv[c * n + k] = inv[c * n + k]! / d;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c]!;
      for (let k = 0; k < n; k++) {
        m[r * n + k] = m[r * n + k]! - f * m[c * n + k]!;
        inv[r * n + k] = inv[r * n + k]! - f * inv[c * n + k]!;
      }
    }
  }
  return inv;
}

/** Upper U with A = UᵀU: the transpose of the textbook lower Cholesky factor. */
function upperCholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j]!;
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!;
      l[i * n + j] = i === j ? Math.sqrt(s) : s / l[j * n + j]!;
    }
  }
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) u[i * n + j] = l[j * n + i]!;
  return u;
}

const roundEven = (x: number) => {
  const f = Math.floor(x);
  return x - f < 0.5 ? f : x - f > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
};
const f16 = (x: number) => f16ToF32(f32ToF16(x));

/** The reference: returns codes [rows × cols] and scales/zeros [rows × groups] (groups in processing order). */
function referenceGptq(w: Float32Array, hIn: Float64Array, bits: number, group: number, sym: boolean, order?: number[]) {
  const n = COLS;
  const maxq = 2 ** bits - 1;
  const perm = order ?? Array.from({ length: n }, (_, i) => i);
  const W = Array.from({ length: ROWS }, (_, r) => perm.map((c) => w[r * n + c]!));
  const H = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) H[i * n + j] = hIn[perm[i]! * n + perm[j]!]!;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += H[i * n + i]! / n;
  for (let i = 0; i < n; i++) H[i * n + i] = H[i * n + i]! + 0.01 * mean;
  const U = upperCholesky(invert(H, n), n);
  const codes = new Uint8Array(ROWS * n);
  const scales: number[][] = W.map(() => []);
  const zeros: number[][] = W.map(() => []);
  const params = W.map(() => ({ s: 0, z: 0 }));
  for (let i = 0; i < n; i++) {
    if (i % group === 0) {
      for (let r = 0; r < ROWS; r++) {
        const g = W[r]!.slice(i, i + group);
        const lo = Math.min(0, ...g);
        const hi = Math.max(0, ...g);
        let s: number;
        let z: number;
        if (sym) {
          s = f16((2 * Math.max(-lo, hi)) / maxq);
          z = 2 ** (bits - 1);
        } else {
          s = f16((hi - lo) / maxq);
          z = roundEven(-lo / s);
        }
        params[r] = { s, z };
        scales[r]!.push(s);
        zeros[r]!.push(z);
      }
    }
    for (let r = 0; r < ROWS; r++) {
      const { s, z } = params[r]!;
      const code = Math.min(maxq, Math.max(0, roundEven(W[r]![i]! / s) + z));
      codes[r * n + perm[i]!] = code;
      const e = (W[r]![i]! - (code - z) * s) / U[i * n + i]!;
      for (let j = i + 1; j < n; j++) W[r]![j] = W[r]![j]! - e * U[i * n + j]!;
    }
  }
  return { codes, scales: scales.flat(), zeros: zeros.flat() };
}

test("upperCholeskyOfInverse equals Cholesky of the explicit inverse", () => {
  const { h } = layer(1);
  const u = Float64Array.from(h);
  for (let i = 0; i < COLS; i++) u[i * COLS + i]! += 0.01;
  const ref = upperCholesky(invert(u, COLS), COLS);
  assert.ok(upperCholeskyOfInverseInPlace(u, COLS));
  for (let i = 0; i < u.length; i++) assert.ok(Math.abs(u[i]! - ref[i]!) <= 1e-9 * (1 + Math.abs(ref[i]!)), `entry ${i}: ${u[i]} vs ${ref[i]}`);
});

for (const [bits, group, sym] of [
  [4, 8, false],
  [3, 16, true],
  [2, 32, false],
  [8, 32, true],
] as const) {
  test(`GPTQ ${bits}-bit, group ${group}, ${sym ? "sym" : "asym"}: same codes and scales as the direct algorithm, whatever the lazy batch`, () => {
    const { w, h } = layer(10 + bits);
    const ref = referenceGptq(w, h, bits, group, sym);
    for (const blockSize of [128, 8, 3]) {
      const r = gptqQuantize("layer", w, ROWS, COLS, h, { format: { kind: "integer", scheme: { bits, groupSize: group, symmetric: sym } }, blockSize });
      assert.equal(r.weights.kind, "integer");
      if (r.weights.kind !== "integer") return;
      assert.deepEqual(r.weights.linear.codes, ref.codes, `codes, batch ${blockSize}`);
      assert.deepEqual(Array.from(r.weights.linear.scales), ref.scales, `scales, batch ${blockSize}`);
      if (!sym) assert.deepEqual(Array.from(r.weights.linear.zeros!), ref.zeros);
      assert.deepEqual(Array.from(dequantizeLinear(r.weights.linear)), Array.from(r.values), "values are what the stored form decodes to");
    }
  });
}

test("GPTQ act-order: groups in order of decreasing H_ii, g_idx records them", () => {
  const { w, h } = layer(21);
  const diag = Array.from({ length: COLS }, (_, i) => h[i * COLS + i]!);
  const order = Array.from({ length: COLS }, (_, i) => i).sort((a, b) => diag[b]! - diag[a]! || a - b);
  const ref = referenceGptq(w, h, 4, 8, false, order);
  const r = gptqQuantize("layer", w, ROWS, COLS, h, { format: { kind: "integer", scheme: { bits: 4, groupSize: 8, symmetric: false } }, actOrder: true, blockSize: 16 });
  assert.ok(r.weights.kind === "integer");
  const lin = r.weights.linear;
  assert.deepEqual(lin.codes, ref.codes);
  assert.deepEqual(Array.from(lin.scales), ref.scales);
  order.forEach((c, k) => assert.equal(lin.gIdx![c], Math.floor(k / 8)));
  assert.deepEqual(Array.from(dequantizeLinear(lin)), Array.from(r.values));
});

/** ‖(W − Q)·Xᵀ‖² over the tokens. */
function outputError(w: Float32Array, q: Float32Array, x: Float64Array, COLS = 32): number {
  let e = 0;
  for (let t = 0; t < x.length / COLS; t++) {
    for (let r = 0; r < ROWS; r++) {
      let s = 0;
      for (let c = 0; c < COLS; c++) s += (w[r * COLS + c]! - q[r * COLS + c]!) * x[t * COLS + c]!;
      e += s * s;
    }
  }
  return e;
}

test("GPTQ lowers the output error below round-to-nearest; static groups and act-order too", () => {
  const { w, x, h } = layer(5);
  const scheme = { bits: 3, groupSize: 8, symmetric: false };
  const zeroH = new Float64Array(COLS * COLS);
  for (let i = 0; i < COLS; i++) zeroH[i * COLS + i] = 1;
  // With H = I, GPTQ makes no compensation: round-to-nearest.
  const rtn = gptqQuantize("layer", w, ROWS, COLS, zeroH, { format: { kind: "integer", scheme } }).values;
  const base = outputError(w, rtn, x);
  for (const opts of [{}, { actOrder: true }, { actOrder: true, staticGroups: true }]) {
    const r = gptqQuantize("layer", w, ROWS, COLS, h, { format: { kind: "integer", scheme }, ...opts });
    const e = outputError(w, r.values, x);
    assert.ok(e < 0.8 * base, `${JSON.stringify(opts)}: ${e} vs RTN ${base}`);
    if (r.weights.kind === "integer" && opts.actOrder) assert.equal(r.weights.linear.gIdx === undefined, opts.staticGroups === true);
  }
});

test("dead columns (always-zero inputs) get zero weights and no NaN", () => {
  const { w, h } = layer(7);
  for (const dead of [2, 17]) for (let j = 0; j < COLS; j++) h[dead * COLS + j] = h[j * COLS + dead] = 0;
  const r = gptqQuantize("layer", w, ROWS, COLS, h, { format: { kind: "integer", scheme: { bits: 4, groupSize: 8, symmetric: true } } });
  assert.equal(r.deadColumns, 2);
  for (let row = 0; row < ROWS; row++) for (const dead of [2, 17]) assert.equal(r.values[row * COLS + dead], 0);
  assert.ok(r.values.every(Number.isFinite) && Number.isFinite(r.loss));
});

test("GPTQ with a ggml codec writes valid blocks and beats the codec alone (with the same importance) on the output error", async () => {
  const { getCodec } = await import("../../src/codecs/index.js");
  const cols = 512;
  const { w, x, h } = layer(9, 512, cols);
  const importance = Float32Array.from({ length: cols }, (_, i) => h[i * cols + i]!);
  const rows = ROWS;
  for (const type of ["Q4_0", "IQ4_NL", "Q5_1", "Q4_K", "Q3_K"]) {
    const codec = getCodec(type)!;
    const plain = codec.dequantize(codec.quantize(w, rows, cols, importance), rows * cols);
    const r = gptqQuantize("layer", w, rows, cols, h, { format: { kind: "codec", codec } });
    assert.ok(r.weights.kind === "codec");
    assert.deepEqual(Array.from(codec.dequantize(r.weights.bytes, rows * cols)), Array.from(r.values));
    const gptq = outputError(w, r.values, x, cols);
    const alone = outputError(w, plain, x, cols);
    assert.ok(gptq < 0.9 * alone, `${type}: GPTQ ${gptq} vs codec alone ${alone}`);
  }
});
