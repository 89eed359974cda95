/**
 * model_stock (Jang et al., arXiv:2403.19522): the average of the fine-tuned models pulled towards the base by
 * t = N·cosθ / (1 + (N-1)·cosθ), where cosθ is the mean pairwise cosine between their task vectors; over the
 * whole tensor, or per row with `filter_wise` (mergekit's choices; a 1-D tensor is one row). Needs base_model
 * and at least two other models.
 */
import { booleanParam } from "./method.js";
import type { MergeMethod } from "./method.js";

/** mergekit clamps the product of norms from below by this before dividing. */
const NORM_PRODUCT_MIN = 1e-6;

function rowT(offsets: readonly Float32Array[], start: number, end: number): number {
  const n = offsets.length;
  const norms = offsets.map((o) => {
    let s = 0;
    for (let i = start; i < end; i++) s += o[i]! * o[i]!;
    return Math.sqrt(s);
  });
  let cosSum = 0;
  let pairs = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      let dot = 0;
      for (let i = start; i < end; i++) dot += offsets[a]![i]! * offsets[b]![i]!;
      cosSum += Math.min(1, Math.max(-1, dot / Math.max(norms[a]! * norms[b]!, NORM_PRODUCT_MIN)));
      pairs++;
    }
  }
  const cos = cosSum / pairs;
  return (n * cos) / (1 + (n - 1) * cos);
}

export const modelStock: MergeMethod = {
  name: "model_stock",
  summary: "average of the models, pulled towards base_model by the angle between their task vectors",
  base: "reference",
  parameters: [{ name: "filter_wise", kind: "boolean", default: false }],
  tensorParameters: [],
  checkSources: (count) => (count >= 3 ? undefined : `model_stock needs base_model and at least two other models, got ${count} models`),
  async merge(job) {
    const w0 = await job.inputs.find((i) => i.isBase)!.load();
    const offsets: Float32Array[] = [];
    for (const input of job.inputs) {
      if (input.isBase) continue;
      const w = await input.load();
      for (let i = 0; i < w.length; i++) w[i] = w[i]! - w0[i]!;
      offsets.push(w);
    }
    const n = w0.length;
    const rowLength = booleanParam(job.params, "filter_wise") ? (job.shape.at(-1) ?? n) : n;
    for (let start = 0; start < n; start += rowLength) {
      const end = start + rowLength;
      const t = rowT(offsets, start, end);
      // w_avg = w0 + mean offset; w_h = t·w_avg + (1-t)·w0 = w0 + t·mean offset.
      for (let i = start; i < end; i++) {
        let mean = 0;
        for (const o of offsets) mean += o[i]!;
        w0[i] = w0[i]! + (t * mean) / offsets.length;
      }
    }
    return w0;
  },
};
