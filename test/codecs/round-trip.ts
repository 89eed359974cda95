/**
 * Round-trip invariant: dequantize(quantize(x)) must be close to x. For a group of values sharing one scale,
 * a quantizer with `levels` levels spanning the group's range has a step of at most 2*amax/(levels-1); the
 * error may reach `groupFactor` steps (0.5 for plain rounding; up to 1 where ggml clamps one end or fits the
 * scale by least squares; `imatrixFactor` for the weighted fit, which trades accuracy on light values), plus `superFactor` steps of the super-block for types whose sub-block scales are
 * themselves quantized. Scales (and mins) stored as fp16 add up to 2^-11 of amax each. Rows are scaled so
 * that block scales stay in fp16's normal range, where that relative bound holds.
 */
import { SeededRandom } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";

interface Bound {
  levels: number;
  group: number;
  groupFactor: number;
  imatrixFactor?: number;
  superBlock?: number;
  superFactor?: number;
}

const BOUNDS: Record<string, Bound> = {
  Q8_0: { levels: 255, group: 32, groupFactor: 0.5 },
  Q4_0: { levels: 16, group: 32, groupFactor: 1, imatrixFactor: 1.5 },
  Q5_0: { levels: 32, group: 32, groupFactor: 1, imatrixFactor: 1.5 },
  Q4_1: { levels: 16, group: 32, groupFactor: 0.5, imatrixFactor: 1 },
  Q5_1: { levels: 32, group: 32, groupFactor: 0.5, imatrixFactor: 1 },
  // k-quants: a sub-block scale is rounded to one of S codes of the super-block scale, which can move a value
  // at level nmax by about nmax/(2S) super-block steps (plus the same again for the quantized min).
  Q2_K: { levels: 4, group: 16, groupFactor: 1, imatrixFactor: 1.5, superBlock: 256, superFactor: 0.2 },
  Q3_K: { levels: 8, group: 16, groupFactor: 1, imatrixFactor: 1.5, superBlock: 256, superFactor: 0.1 },
  Q4_K: { levels: 16, group: 32, groupFactor: 1, imatrixFactor: 1.5, superBlock: 256, superFactor: 0.25 },
  Q5_K: { levels: 32, group: 32, groupFactor: 1, imatrixFactor: 1.5, superBlock: 256, superFactor: 0.5 },
  Q6_K: { levels: 64, group: 16, groupFactor: 1, imatrixFactor: 1.5, superBlock: 256, superFactor: 0.25 },
  // Non-uniform 16-entry table: its widest gap (24 of 240) is 1.5 uniform steps.
  IQ4_NL: { levels: 16, group: 32, groupFactor: 1.5 },
  IQ4_XS: { levels: 16, group: 32, groupFactor: 1.5, superBlock: 256, superFactor: 0.25 },
  // E2M1 has 15 distinct values (0, +-0.5 .. +-6); its widest gap is 2 of 12, i.e. 1 step of 7 either side.
  // MXFP4's power-of-two scale leaves amax up to 8 units, clipped to 6: up to 2 units = 3.5 steps.
  MXFP4: { levels: 15, group: 32, groupFactor: 3.5 },
  // NVFP4's UE4M3 scale is within 1/16 of amax/6 in its normal range: 1 unit = 7/6 steps, plus the clip.
  NVFP4: { levels: 15, group: 16, groupFactor: 1.6 },
  // Ternary and Q2_0: x/amax rounded to -1, 0, 1. Q1_0: +-mean|x|, off by at most amax + mean <= 2 amax.
  TQ1_0: { levels: 3, group: 256, groupFactor: 0.5 },
  TQ2_0: { levels: 3, group: 256, groupFactor: 0.5 },
  Q2_0: { levels: 3, group: 64, groupFactor: 0.5 },
  Q1_0: { levels: 2, group: 128, groupFactor: 1 },
};

function maxAbs(x: Float32Array, from: number, n: number): number {
  let m = 0;
  for (let i = from; i < from + n; i++) m = Math.max(m, Math.abs(x[i]!));
  return m;
}

/** Quantizes seeded random rows (with and without an importance matrix) and lists every bound violation. */
export function roundTripFailures(types: readonly string[], rowLength = 1024, nrows = 8): string[] {
  const failures: string[] = [];
  const rng = new SeededRandom(20260822);
  const x = new Float32Array(rowLength * nrows);
  for (let r = 0; r < nrows; r++) {
    const scale = 10 ** (rng.next() * 3 - 2);
    for (let i = 0; i < rowLength; i++) x[r * rowLength + i] = scale * rng.normal() * (rng.next() < 0.01 ? 8 : 1);
  }
  const imatrix = new Float32Array(rowLength);
  for (let i = 0; i < rowLength; i++) imatrix[i] = 0.1 + rng.next() * 2;
  for (const type of types) {
    const b = BOUNDS[type];
    if (!b) {
      failures.push(`${type}: no round-trip bound defined`);
      continue;
    }
    const codec = requireCodec(type);
    for (const qw of codec.requiresImatrix ? [imatrix] : [undefined, imatrix]) {
      const y = codec.dequantize(codec.quantize(x, nrows, rowLength, qw), x.length);
      const superBlock = b.superBlock ?? b.group;
      for (let s = 0; s < x.length; s += superBlock) {
        const superStep = (2 * maxAbs(x, s, superBlock)) / (b.levels - 1);
        for (let g = s; g < s + superBlock; g += b.group) {
          const amax = maxAbs(x, g, b.group);
          const factor = qw ? (b.imatrixFactor ?? b.groupFactor) : b.groupFactor;
          const bound = (factor * 2 * amax) / (b.levels - 1) + (b.superFactor ?? 0) * superStep + amax * 2 ** -10;
          for (let i = g; i < g + b.group; i++) {
            const err = Math.abs(y[i]! - x[i]!);
            if (!(err <= bound * 1.002)) {
              failures.push(`${type}${qw ? " imatrix" : ""}: value ${i} error ${err.toExponential(3)} exceeds ${bound.toExponential(3)}`);
              break;
            }
          }
          if (failures.length > 20) return failures;
        }
      }
    }
  }
  return failures;
}
