/**
 * The WebAssembly row kernels (RMSNorm, RoPE, row additions, llama.cpp's activation rounding) against their
 * scalar JavaScript references (vector-ops.ts, activation-rounding.ts), which carry llama.cpp's arithmetic:
 * bit for bit, on odd shapes (rows 1, 3, 17; lengths 1 … 4095), operands at odd offsets in the kernels' memory,
 * in place and not, with relaxed SIMD on and off. The reference fallback is replaced by one that throws, so
 * every call here runs the WebAssembly code.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { ReferenceKernels } from "../../src/kernels/index.js";
import type { Kernels } from "../../src/kernels/index.js";
import type { ActivationFormat } from "../../src/kernels/activation-rounding.js";
import type { RopeHeads } from "../../src/kernels/vector-ops.js";
import { createNodeKernels } from "../../src/node/kernels.js";

const open: Kernels[] = [];
after(() => Promise.all(open.map((k) => k.close())));

/** WebAssembly kernels whose JavaScript fallback throws: a call that does not run in WebAssembly fails. */
async function wasmOnly(relaxed: boolean): Promise<Kernels> {
  const k = await createNodeKernels({ threads: 1, relaxed, kind: "wasm" });
  open.push(k);
  const fallback = () => assert.fail("the row kernel fell back to JavaScript");
  (k as unknown as { reference: Record<string, () => void> }).reference = { rmsNorm: fallback, rope: fallback, addRows: fallback, roundActivations: fallback };
  return k;
}

const reference = new ReferenceKernels();
const ROWS = [1, 3, 17];
const LENGTHS = [1, 3, 17, 64, 4095];

/** `count` values at offset `offset` of a buffer in the kernels' memory (the buffer is kept by the view's owner list). */
function inMemory(K: Kernels, count: number, offset: number): Float32Array {
  return K.allocate(offset + count).subarray(offset);
}

/** The bit patterns, so that equality is exact (signed zeros, every last bit). */
const bits = (a: Float32Array) => new Uint32Array(a.slice().buffer);

function assertSameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i]!) && Number.isNaN(got[i]!)) continue;
    if (bits(got.subarray(i, i + 1))[0] !== bits(want.subarray(i, i + 1))[0]) assert.fail(`${what} at ${i}: ${got[i]} vs ${want[i]}`);
  }
}

for (const relaxed of [true, false]) {
  const label = relaxed ? "relaxed SIMD" : "simd128";

  test(`rmsNorm is bit-identical to rmsNormRows (${label}), in place and not`, async () => {
    const K = await wasmOnly(relaxed);
    const rnd = new SeededRandom(3);
    for (const rows of ROWS) {
      for (const dim of LENGTHS) {
        for (const inPlace of [false, true]) {
          const x = inMemory(K, rows * dim, 5);
          for (let i = 0; i < x.length; i++) x[i] = (rnd.next() - 0.5) * 2 ** (rnd.int(40) - 20);
          if (dim === 64) {
            // Rows whose float64 sum of squares is 1 + 2^-24 (a float32 tie) plus the squares of 2^-27 (a
            // quarter of float64's ulp at 1) summed before the 1: two of them leave the tie, three break it
            // upwards, and the ones after the 1 are lost. Any change of the sequential order near the 1 moves
            // the mean by a float32 ulp.
            x.fill(0);
            for (let r = 0; r < rows; r++) {
              const p = r * dim + 5 + rnd.int(dim - 12);
              const before = 2 + rnd.int(2);
              for (let j = -before; j <= 4; j++) x[p + j] = 2 ** -27;
              x[p] = 1;
              x[r * dim + (rnd.int(2) ? 0 : dim - 1)] = 2 ** -12;
            }
          }
          const weight = rnd.fillNormal(inMemory(K, dim, 3), 1);
          const out = inPlace ? x : inMemory(K, rows * dim, 7);
          const want = new Float32Array(rows * dim);
          const eps = dim % 2 ? 1e-5 : 1e-6;
          reference.rmsNorm(x.slice(), rows, dim, weight, eps, want);
          K.rmsNorm(x, rows, dim, weight, eps, out);
          assertSameBits(out, want, `rmsNorm ${rows}x${dim}${inPlace ? " in place" : ""}`);
        }
      }
    }
  });

  test(`rope is bit-identical to ropeRows for both pairings (${label}), odd head counts, partial rotation, strides`, async () => {
    const K = await wasmOnly(relaxed);
    const rnd = new SeededRandom(5);
    // [heads, head size, rotated dims]
    const shapes: [number, number, number][] = [[1, 2, 2], [3, 6, 6], [1, 10, 6], [3, 8, 8], [5, 64, 64], [2, 128, 96], [1, 4094, 4094], [3, 17, 14]];
    for (const style of ["norm", "neox"] as const) {
      for (const rows of ROWS) {
        for (const [count, size, dims] of shapes) {
          const heads: RopeHeads = { style, count, size, dims };
          const stride = count * size + 3;
          const x = rnd.fillNormal(inMemory(K, rows * stride, 1), 2);
          const half = dims / 2;
          const cos = inMemory(K, rows * half, 2);
          const sin = inMemory(K, rows * half, 6);
          for (let i = 0; i < rows * half; i++) {
            const angle = rnd.next() * 100;
            cos[i] = Math.cos(angle);
            sin[i] = Math.sin(angle);
          }
          const want = x.slice();
          reference.rope(want, rows, stride, heads, cos, sin);
          K.rope(x, rows, stride, heads, cos, sin);
          assertSameBits(x, want, `rope ${style} ${rows} rows, ${count}x${size} (${dims} rotated)`);
        }
      }
    }
  });

  test(`addRows is bit-identical to the float32 sums (${label}): residuals (one row) and biases`, async () => {
    const K = await wasmOnly(relaxed);
    const rnd = new SeededRandom(7);
    for (const rows of ROWS) {
      for (const cols of LENGTHS) {
        const x = rnd.fillNormal(inMemory(K, rows * cols, 9), 3);
        const y = rnd.fillNormal(inMemory(K, cols, 1), 1);
        const want = x.slice();
        reference.addRows(want, rows, cols, y);
        K.addRows(x, rows, cols, y);
        assertSameBits(x, want, `addRows ${rows}x${cols}`);
      }
    }
  });

  test(`roundActivations is bit-identical to llama.cpp's rounding in JavaScript (${label}): Q8_0, Q8_K, F16, BF16`, async () => {
    const K = await wasmOnly(relaxed);
    const rnd = new SeededRandom(11);
    const u32 = new Uint32Array(1);
    const f32 = new Float32Array(u32.buffer);
    const randomBits = () => {
      u32[0] = (rnd.next() * 2 ** 32) >>> 0;
      return f32[0]!;
    };
    const cases: [ActivationFormat, number[]][] = [
      ["Q8_0", [32, 96, 17 * 32, 4096]],
      ["Q8_K", [256, 768, 17 * 256]],
      ["F16", [...LENGTHS, 1 << 16]],
      ["BF16", [...LENGTHS, 1 << 16]],
    ];
    for (const [format, counts] of cases) {
      const block = format === "Q8_0" ? 32 : format === "Q8_K" ? 256 : 1;
      for (const count of counts) {
        for (const inPlace of [false, true]) {
          const x = inMemory(K, count, 3);
          for (let i = 0; i < count; i++) x[i] = (rnd.next() - 0.5) * 2 ** (rnd.int(60) - 30);
          if (block > 1) {
            // A block of zeros; a block whose largest magnitude appears with both signs (the first one sets the
            // scale); a block at amax 127 of half-integers (every q a tie).
            if (count >= 2 * block) x.fill(0, block, 2 * block);
            x[3] = -5e3;
            x[block - 2] = 5e3;
            if (count >= 3 * block) for (let j = 0; j < block; j++) x[2 * block + j] = j === 0 ? 127 : rnd.int(254) - 127 + 0.5;
          } else {
            // Every kind of bit pattern: fp16/bf16 subnormals, overflow, infinities, NaNs, and the boundaries.
            for (let i = 0; i < count; i += 3) x[i] = randomBits();
            const edges = [65504, 65519.99, 65520, 65536, 2 ** -14, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 6.1e-5, 3.4e38, Infinity, -0, NaN];
            for (let i = 0; i < Math.min(count, edges.length); i++) x[i] = edges[i]! * (i % 2 ? -1 : 1);
          }
          const want = new Float32Array(count);
          reference.roundActivations(format, x.slice(), want, count);
          const out = inPlace ? x : inMemory(K, count, 5);
          K.roundActivations(format, x, out, count);
          assertSameBits(out, want, `${format} ${count}${inPlace ? " in place" : ""}`);
        }
      }
    }
  });
}

test("operands outside the kernels' memory take the JavaScript reference and give its results", async () => {
  const K = await createNodeKernels({ threads: 1, kind: "wasm" });
  open.push(K);
  const rnd = new SeededRandom(13);
  const x = rnd.fillNormal(new Float32Array(3 * 96), 1);
  const weight = rnd.fillNormal(new Float32Array(96), 1);
  const [a, b] = [new Float32Array(x.length), new Float32Array(x.length)];
  K.rmsNorm(x, 3, 96, weight, 1e-5, a);
  reference.rmsNorm(x, 3, 96, weight, 1e-5, b);
  assertSameBits(a, b, "rmsNorm outside");
  K.roundActivations("Q8_0", x, a, x.length);
  reference.roundActivations("Q8_0", x, b, x.length);
  assertSameBits(a, b, "Q8_0 outside");
});
