/**
 * Grid i-quants (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S): byte-exact with llama.cpp on its
 * reference vectors, the imatrix requirement as ggml_quantize_requires_imatrix states it, and an error
 * between the rate-distortion bound of a Gaussian source and a loose ceiling on rows longer than the vectors'.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { bitsPerWeight, SeededRandom } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";

const TYPES = ["IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S", "IQ1_M"];

for (const type of TYPES) {
  test(`${type} matches ggml_quantize_chunk and to_float on the reference vectors`, { skip: !hasSharedData }, () => {
    assert.deepEqual(failingEntries([type]), []);
  });
}

test("IQ2_XXS, IQ2_XS and IQ1_S require an importance matrix, the others do not (llama.cpp's rule)", () => {
  for (const type of TYPES) assert.equal(requireCodec(type).requiresImatrix, ["IQ2_XXS", "IQ2_XS", "IQ1_S"].includes(type), type);
  const x = new Float32Array(256);
  assert.throws(() => requireCodec("IQ2_XXS").quantize(x, 1, 256), /importance matrix/);
});

test("relative RMS error on N(0, 0.02) rows of 4096 lies between the Gaussian rate-distortion bound and a ceiling", () => {
  const rows = 2;
  const n = 4096;
  const x = new SeededRandom(11).fillNormal(new Float32Array(rows * n), 0.02);
  const imatrix = new SeededRandom(12).fillNormal(new Float32Array(n), 1).map((v) => v * v + 0.1);
  // Ceilings far above what llama.cpp achieves (about 0.5, 0.3 and 0.15), to catch broken codecs only.
  const ceiling = (bpw: number) => (bpw < 2 ? 0.65 : bpw < 3 ? 0.42 : 0.26);
  for (const type of TYPES) {
    const codec = requireCodec(type);
    const bpw = bitsPerWeight(codec.type);
    for (const qw of codec.requiresImatrix ? [imatrix] : [undefined, imatrix]) {
      const y = codec.dequantize(codec.quantize(x, rows, n, qw), x.length);
      let err = 0;
      let energy = 0;
      for (let i = 0; i < x.length; i++) {
        err += (y[i]! - x[i]!) ** 2;
        energy += x[i]! ** 2;
      }
      const rel = Math.sqrt(err / energy);
      const label = `${type}${qw ? " imatrix" : ""}: relative RMS error ${rel.toFixed(3)}`;
      // No code with R bits per value gets below 2^-R on a Gaussian source.
      assert.ok(rel > 2 ** -bpw, `${label} beats the rate-distortion bound ${(2 ** -bpw).toFixed(3)}`);
      assert.ok(rel < ceiling(bpw), `${label} exceeds ${ceiling(bpw)}`);
    }
  }
});
