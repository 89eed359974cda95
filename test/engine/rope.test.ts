/**
 * RoPE invariants: rotations keep vector norms, and the dot product of a rotated query and key depends only
 * on their distance (the property RoPE exists for), for both pairings and with per-pair factors; llama 3's
 * factors leave short wavelengths alone and divide long ones by the scaling factor.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import { applyRope, ropeAngles, ropeStyleOf } from "../../src/engine/index.js";
import { llama3RopeFactors } from "../../src/model/rope-freqs.js";
import type { RopeConfig } from "../../src/engine/index.js";

function rotate(config: RopeConfig, v: Float32Array, pos: number): Float32Array {
  const x = v.slice();
  applyRope(config, ropeAngles(config, [pos]), x, 1, x.length, 1, x.length);
  return x;
}
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

test("rotations keep norms and make q·k depend only on the distance, in both pairings", () => {
  const rnd = new SeededRandom(11);
  const q = rnd.fillNormal(new Float32Array(16), 1);
  const k = rnd.fillNormal(new Float32Array(16), 1);
  const factors = llama3RopeFactors({
    vocabSize: 1, hiddenSize: 16, intermediateSize: 1, numLayers: 1, numHeads: 1, numKvHeads: 1, headDim: 16, contextLength: 64,
    rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: false, attentionBias: false,
    ropeScaling: { type: "llama3", factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 64 },
  });
  for (const config of [
    { style: "norm", dims: 16, base: 10000, freqScale: 1 },
    { style: "neox", dims: 16, base: 1e6, freqScale: 1 },
    { style: "norm", dims: 16, base: 500000, freqScale: 0.25, factors },
  ] as RopeConfig[]) {
    assert.ok(Math.abs(dot(rotate(config, q, 37), rotate(config, q, 37)) - dot(q, q)) < 1e-4);
    const d1 = dot(rotate(config, q, 40), rotate(config, k, 30));
    const d2 = dot(rotate(config, q, 110), rotate(config, k, 100));
    assert.ok(Math.abs(d1 - d2) < 1e-3, `${config.style}: ${d1} vs ${d2}`);
    assert.ok(Math.abs(dot(rotate(config, q, 0), k) - dot(q, k)) < 1e-6, "position 0 is the identity");
  }
});

test("norm pairs adjacent elements, neox pairs i with i + d/2", () => {
  const v = Float32Array.from([1, 0, 0, 0, 0, 0, 0, 0]);
  const base = { dims: 8, base: 10000, freqScale: 1 };
  const norm = rotate({ style: "norm", ...base }, v, 1);
  const neox = rotate({ style: "neox", ...base }, v, 1);
  // pair 0 rotates by angle pos * base^0 = 1 radian
  assert.ok(Math.abs(norm[0]! - Math.cos(1)) < 1e-6 && Math.abs(norm[1]! - Math.sin(1)) < 1e-6 && norm[4] === 0);
  assert.ok(Math.abs(neox[0]! - Math.cos(1)) < 1e-6 && Math.abs(neox[4]! - Math.sin(1)) < 1e-6 && neox[1] === 0);
  assert.equal(ropeStyleOf("llama"), "norm");
  assert.equal(ropeStyleOf("qwen2"), "neox");
});
