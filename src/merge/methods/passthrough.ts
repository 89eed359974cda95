/**
 * passthrough: the one source's tensor, unchanged or multiplied by its `scale`. With slices it stacks layers of
 * different models (frankenmerges).
 */
import type { MergeMethod } from "./method.js";

export const passthrough: MergeMethod = {
  name: "passthrough",
  summary: "copy tensors from one model per slice (layer stacking)",
  base: "input",
  parameters: [],
  tensorParameters: [{ name: "scale", kind: "number" }],
  checkSources: (count) => (count === 1 ? undefined : `passthrough takes exactly one source per slice, got ${count}`),
  async merge(job) {
    const input = job.inputs[0]!;
    const x = await input.load();
    const scale = input.params.scale;
    if (typeof scale === "number") for (let i = 0; i < x.length; i++) x[i] = x[i]! * scale;
    return x;
  },
};
