/** Running a merge method directly on small hand-made tensors, with parameters completed as the planner does. */
import { SeededRandom } from "../../src/core/index.js";
import type { MergeJob, MergeMethod, ParamValues, ParameterDef } from "../../src/merge/index.js";

export interface TestInput {
  values: readonly number[];
  isBase?: boolean;
  params?: Record<string, number | boolean>;
  seed?: number;
}

function complete(defs: readonly ParameterDef[], given: Record<string, number | boolean> = {}): ParamValues {
  return Object.fromEntries(defs.map((d) => [d.name, given[d.name] ?? d.default]));
}

export function makeJob(method: MergeMethod, inputs: readonly TestInput[], params: Record<string, number | boolean> = {}, shape?: number[]): MergeJob {
  return {
    tensorName: "test.weight",
    shape: shape ?? [inputs[0]!.values.length],
    params: complete(method.parameters, params),
    inputs: inputs.map((input, k) => ({
      model: `model${k}`,
      isBase: input.isBase ?? false,
      params: complete(method.tensorParameters, input.params),
      load: async () => Float32Array.from(input.values),
      random: () => new SeededRandom(input.seed ?? k),
    })),
  };
}

export async function runMethod(method: MergeMethod, inputs: readonly TestInput[], params: Record<string, number | boolean> = {}, shape?: number[]): Promise<number[]> {
  return [...(await method.merge(makeJob(method, inputs, params, shape)))];
}

/** Values rounded to float32, as the tensors the methods receive. */
export function f32(values: readonly number[]): number[] {
  return [...Float32Array.from(values)];
}

export function assertClose(actual: readonly number[], expected: readonly number[], tolerance: number, message = ""): void {
  if (actual.length !== expected.length) throw new Error(`${message}: length ${actual.length} != ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tolerance)) {
      throw new Error(`${message}: element ${i}: ${actual[i]} != ${expected[i]} (tolerance ${tolerance})\nactual   ${actual.join(", ")}\nexpected ${expected.join(", ")}`);
    }
  }
}
