/**
 * The scale searches run as WebAssembly SIMD (four groups per vector) or, where a runtime cannot compile it,
 * as scalar JavaScript. Both must give llama.cpp's bytes: the scalar path on the reference vectors, and the
 * two paths the same bytes on inputs built to reach the searches' corner cases (ties on rounding boundaries,
 * constant and all-zero groups, signed zeros, magnitudes near the searches' epsilons, weights of 0).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { setWasmSearches } from "../../src/codecs/ggml-search-batch.js";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";

const TYPES = ["Q4_0", "Q5_0", "Q4_1", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"];

function withScalarSearches<T>(f: () => T): T {
  setWasmSearches(false);
  try {
    return f();
  } finally {
    setWasmSearches(true);
  }
}

test("the scalar searches match ggml_quantize_chunk on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(
    withScalarSearches(() => failingEntries(TYPES)),
    [],
  );
});

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
        : kind === 7 ? z * 2 ** (r.int(40) - 20) // mixed magnitudes
        : -Math.abs(z); // all negative
    }
  }
  return x;
}

test("WebAssembly and scalar searches give the same bytes on corner cases, with and without an importance matrix", () => {
  const rows = 4;
  const x = cornerCaseRows(rows, 21);
  const r = new SeededRandom(22);
  const imatrix = Float32Array.from({ length: 512 }, () => (r.int(5) === 0 ? 0 : r.next() * 3));
  for (const type of TYPES) {
    const codec = requireCodec(type);
    for (const qw of [undefined, imatrix]) {
      const fast = codec.quantize(x, rows, 512, qw);
      const scalar = withScalarSearches(() => codec.quantize(x, rows, 512, qw));
      assert.deepEqual(fast, scalar, `${type}${qw ? " imatrix" : ""}`);
    }
  }
});
