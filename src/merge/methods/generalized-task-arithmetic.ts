/**
 * mergekit's "generalized task arithmetic", the family behind task_arithmetic, ties, dare_linear, dare_ties,
 * breadcrumbs and breadcrumbs_ties: every model's task vector (model - base) is sparsified, weighted, optionally
 * sign-elected (TIES: per element, the sign of the sum of the weighted deltas wins and only deltas of that sign
 * are kept), summed, optionally divided by the sum of the weights that contributed, scaled by lambda and added
 * to the base.
 *
 * Arithmetic: deltas are float32 (model - base rounded as torch does); weighting, mixing and normalization run
 * in float64 per element and are rounded once to float32 (mergekit runs them in float32 or in `dtype`).
 */
import { BitsmithError } from "../../core/index.js";
import { elementCount } from "../../convert/tensor-transcode.js";
import { magnitudeKeepCount, sparsifyMagnitude, sparsifyMagnitudeOutliers, sparsifyRandom } from "../sparsify.js";
import { booleanParam, numberParam } from "./method.js";
import type { MergeJob, MergeMethod, ParameterDef, TensorInput } from "./method.js";

export type Sparsification = "magnitude" | "random" | "magnitude_outliers";

export interface TaskArithmeticVariant {
  name: string;
  summary: string;
  /** TIES sign election by the sum of weighted deltas (mergekit's consensus_method "sum"). */
  signConsensus: boolean;
  sparsification?: Sparsification;
  defaultNormalize: boolean;
  defaultRescale: boolean;
}

/** Below this the plain sum of weights counts as zero and normalization divides by 1 (mergekit). */
const WEIGHT_SUM_EPS = 1e-8;

function sparsify(variant: TaskArithmeticVariant, delta: Float32Array, input: TensorInput, rescale: boolean): void {
  const density = numberParam(input.params, "density");
  switch (variant.sparsification) {
    case "magnitude":
      return sparsifyMagnitude(delta, density, rescale);
    case "random":
      return sparsifyRandom(delta, density, rescale, input.random());
    case "magnitude_outliers":
      return sparsifyMagnitudeOutliers(delta, density, numberParam(input.params, "gamma"), rescale);
    case undefined:
      return;
  }
}

/**
 * Adds lambda × the mixed deltas to `base`, element by element in float64. With sign consensus only the weighted
 * deltas whose sign agrees with the sign of their sum (a zero sum counts as +) are added, and normalization
 * divides by the weights of those; otherwise by the sum of all weights.
 */
function addMixedDeltas(base: Float32Array, deltas: readonly Float32Array[], weights: readonly number[], consensus: boolean, normalize: boolean, lambda: number): void {
  const k = deltas.length;
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const plainDivisor = normalize && Math.abs(weightSum) >= WEIGHT_SUM_EPS ? weightSum : 1;
  for (let i = 0; i < base.length; i++) {
    let mixed = 0;
    let divisor = plainDivisor;
    if (consensus) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += weights[j]! * deltas[j]![i]!;
      const sign = sum >= 0 ? 1 : -1;
      let agreeing = 0;
      for (let j = 0; j < k; j++) {
        const wd = weights[j]! * deltas[j]![i]!;
        // 1 when the weighted delta has the elected sign (0 never has), as a number to avoid a branch.
        const agree = wd * sign > 0 ? 1 : 0;
        mixed += wd * agree;
        agreeing += weights[j]! * agree;
      }
      divisor = normalize && agreeing !== 0 ? agreeing : 1;
    } else {
      for (let j = 0; j < k; j++) mixed += weights[j]! * deltas[j]![i]!;
    }
    base[i] = base[i]! + (mixed / divisor) * lambda;
  }
}

async function mergeTaskVectors(variant: TaskArithmeticVariant, job: MergeJob): Promise<Float32Array> {
  const baseInput = job.inputs.find((i) => i.isBase);
  if (!baseInput) throw new BitsmithError(`${variant.name} needs base_model among the inputs`, { field: job.tensorName });
  const base = await baseInput.load();
  const rescale = booleanParam(job.params, "rescale");
  const deltas: Float32Array[] = [];
  const weights: number[] = [];
  for (const input of job.inputs) {
    if (input.isBase) continue;
    const delta = await input.load();
    for (let i = 0; i < delta.length; i++) delta[i] = delta[i]! - base[i]!;
    sparsify(variant, delta, input, rescale);
    deltas.push(delta);
    weights.push(numberParam(input.params, "weight"));
  }
  if (deltas.length === 0) return base;
  addMixedDeltas(base, deltas, weights, variant.signConsensus, booleanParam(job.params, "normalize"), numberParam(job.params, "lambda"));
  return base;
}

/** Builds one member of the family. */
export function taskArithmeticMethod(variant: TaskArithmeticVariant): MergeMethod {
  const tensorParameters: ParameterDef[] = [
    { name: "weight", kind: "number", required: true },
    { name: "density", kind: "number", default: 1, range: [0, 1] },
  ];
  if (variant.sparsification === "magnitude_outliers") tensorParameters.push({ name: "gamma", kind: "number", default: 0.01, range: [0, 1] });
  return {
    name: variant.name,
    summary: variant.summary,
    base: "reference",
    parameters: [
      // int8_mask only chooses the dtype of mergekit's sign mask; the result is the same.
      { name: "int8_mask", kind: "boolean", default: false },
      { name: "normalize", kind: "boolean", default: variant.defaultNormalize },
      { name: "rescale", kind: "boolean", default: variant.defaultRescale },
      { name: "lambda", kind: "number", default: 1 },
    ],
    tensorParameters,
    checkTensor(job) {
      if (variant.sparsification !== "magnitude") return undefined;
      const count = elementCount(job.shape);
      for (const input of job.inputs) {
        if (input.isBase) continue;
        const density = numberParam(input.params, "density");
        if (magnitudeKeepCount(count, density) === 0) {
          return `density ${density} keeps none of the ${count} values of ${input.model}'s task vector (mergekit refuses this too); raise density`;
        }
      }
      return undefined;
    },
    merge: (job) => mergeTaskVectors(variant, job),
  };
}
