/**
 * slerp: spherical interpolation from the base model (t = 0) to the other model (t = 1), on each tensor taken
 * as one flat vector, as mergekit computes it: the angle between the normalized tensors, and plain linear
 * interpolation when they are nearly parallel (|cos| > 0.9995). mergekit does this in numpy float32; here the
 * norms, dot product and coefficients are float64 (the coefficients then rounded to float32) and each element
 * is combined in float32, so results agree with mergekit's to float32 rounding.
 */
import { numberParam } from "./method.js";
import type { MergeMethod } from "./method.js";

const DOT_THRESHOLD = 0.9995;
const NORM_EPS = 1e-8;

function norm(v: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/** Coefficients (s0, s1) of v0 and v1 in the interpolated vector, float32 as numpy applies them. */
export function slerpCoefficients(t: number, v0: Float32Array, v1: Float32Array): [number, number] {
  const n0 = norm(v0);
  const n1 = norm(v1);
  // mergekit normalizes a vector only when its norm exceeds eps.
  const d0 = n0 > NORM_EPS ? n0 : 1;
  const d1 = n1 > NORM_EPS ? n1 : 1;
  let dot = 0;
  for (let i = 0; i < v0.length; i++) dot += v0[i]! * v1[i]!;
  dot = Math.fround(dot / (d0 * d1));
  if (Math.abs(dot) > DOT_THRESHOLD) return [Math.fround(1 - t), Math.fround(t)];
  const theta0 = Math.acos(dot);
  const sinTheta0 = Math.sin(theta0);
  const thetaT = theta0 * t;
  return [Math.fround(Math.sin(theta0 - thetaT) / sinTheta0), Math.fround(Math.sin(thetaT) / sinTheta0)];
}

export const slerp: MergeMethod = {
  name: "slerp",
  summary: "spherical interpolation between base_model and one other model",
  base: "reference",
  parameters: [{ name: "t", kind: "number", required: true }],
  tensorParameters: [],
  checkSources: (count) => (count === 2 ? undefined : `slerp takes exactly two models (base_model and one other), got ${count}`),
  async merge(job) {
    const base = job.inputs.find((i) => i.isBase)!;
    const other = job.inputs.find((i) => !i.isBase)!;
    const v0 = await base.load();
    const v1 = await other.load();
    const [s0, s1] = slerpCoefficients(numberParam(job.params, "t"), v0, v1);
    for (let i = 0; i < v0.length; i++) v0[i] = Math.fround(s0 * v0[i]!) + Math.fround(s1 * v1[i]!);
    return v0;
  },
};
