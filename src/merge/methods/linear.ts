/**
 * linear (model soups, Wortsman et al., arXiv:2203.05482): Σ weight · model, divided by Σ weight when
 * `normalize` (the default). A base_model is just one more input and needs a weight like the others.
 * Inputs are accumulated one at a time in float64, so only one input tensor is decoded at once.
 */
import { booleanParam, numberParam } from "./method.js";
import type { MergeMethod } from "./method.js";

export const linear: MergeMethod = {
  name: "linear",
  summary: "weighted average of the models",
  base: "input",
  parameters: [{ name: "normalize", kind: "boolean", default: true }],
  tensorParameters: [{ name: "weight", kind: "number", required: true }],
  async merge(job) {
    let sum: Float64Array | undefined;
    let weightSum = 0;
    for (const input of job.inputs) {
      const w = numberParam(input.params, "weight");
      const x = await input.load();
      sum ??= new Float64Array(x.length);
      for (let i = 0; i < x.length; i++) sum[i] += w * x[i]!;
      weightSum += w;
    }
    const divisor = booleanParam(job.params, "normalize") ? weightSum : 1;
    const out = new Float32Array(sum!.length);
    for (let i = 0; i < out.length; i++) out[i] = sum![i]! / divisor;
    return out;
  },
};
