/**
 * The codecs run their hot loops in a WebAssembly module (codec-wasm.ts) or, where a runtime cannot compile it,
 * in JavaScript. Both must give llama.cpp's bytes: the JavaScript on the reference vectors, and the two the same
 * bytes on inputs built to reach the corner cases (ties on rounding boundaries, constant and all-zero groups,
 * signed zeros, magnitudes near the searches' epsilons and in the float32 subnormals, weights of 0), and the
 * same float32 bits from every fp16 pattern.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { setCodecWasm } from "../../src/codecs/codec-wasm.js";
import { f16BytesToF32 } from "../../src/codecs/float.js";
import { f16ToF32Row } from "../../src/numeric/half.js";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";

const TYPES = ["Q8_0", "Q4_0", "Q5_0", "Q4_1", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S"];

function withJavaScript<T>(f: () => T): T {
  setCodecWasm(false);
  try {
    return f();
  } finally {
    setCodecWasm(true);
  }
}

test("the JavaScript codecs match ggml_quantize_chunk on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(
    withJavaScript(() => failingEntries(TYPES)),
    [],
  );
});

function outcome(f: () => Uint8Array): Uint8Array | string {
  try {
    return f();
  } catch (e) {
    return (e as Error).message;
  }
}

/** Rows of 512 whose 16-value groups each take one of several corner-case shapes. */
function cornerCaseRows(rows: number, seed: number): Float32Array {
  const r = new SeededRandom(seed);
  const x = new Float32Array(rows * 512);
  for (let g = 0; g < x.length; g += 16) {
    const kind = r.int(9);
    for (let i = g; i < g + 16; i++) {
      const z = r.normal();
      x[i] =
        kind === 0 ? 0.02 * z
        : kind === 1 ? (r.int(17) - 8) / 8 // many values on rounding ties
        : kind === 2 ? 0.5 // constant
        : kind === 3 ? (r.int(2) ? -0 : 0) // signed zeros
        : kind === 4 ? z * 1e-15 // near GROUP_MAX_EPS
        : kind === 5 ? Math.abs(z) + 1 // all positive (min clamped to 0)
        : kind === 6 ? (r.int(4) === 0 ? z : 0) // sparse
        : kind === 7 ? z * 2 ** (r.int(200) - 150) // mixed magnitudes, float32 subnormals
        : -Math.abs(z); // all negative
    }
  }
  return x;
}

test("WebAssembly and JavaScript give the same bytes on corner cases, with and without an importance matrix", () => {
  const rows = 4;
  const x = cornerCaseRows(rows, 21);
  const r = new SeededRandom(22);
  const imatrix = Float32Array.from({ length: 512 }, () => (r.int(5) === 0 ? 0 : r.next() * 3));
  for (const type of TYPES) {
    const codec = requireCodec(type);
    for (const qw of codec.requiresImatrix ? [imatrix] : [undefined, imatrix]) {
      // Some inputs make ggml assert (no grid point at a finite distance, IQ1_M on subnormal values): both must
      // then refuse the same way.
      const fast = outcome(() => codec.quantize(x, rows, 512, qw));
      const scalar = withJavaScript(() => outcome(() => codec.quantize(x, rows, 512, qw)));
      assert.deepEqual(fast, scalar, `${type}${qw ? " imatrix" : ""}`);
    }
  }
});

test("the WebAssembly fp16 decoder gives the table's float32 bits for all 65536 patterns, at any byte offset", () => {
  const patterns = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const expected = new Uint32Array(f16ToF32Row(patterns, new Float32Array(65536)).buffer);
  const bytes = new Uint8Array(2 * 65536 + 1);
  bytes.set(new Uint8Array(patterns.buffer), 1);
  for (const n of [65536, 65533]) {
    const got = new Uint32Array(f16BytesToF32(bytes.subarray(1), new Float32Array(n), n).buffer);
    assert.deepEqual(got, expected.subarray(0, n));
  }
});
