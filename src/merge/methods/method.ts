/**
 * What a merge method is to the planner and the streaming executor: the parameters it reads (the whole merge's
 * and each model's, as mergekit's `parameters()` / `tensor_parameters()`), how it uses `base_model`, and the
 * computation of one output tensor from the same tensor of every input.
 */
import type { SeededRandom } from "../../core/index.js";

export type ParamValue = number | boolean;
export type ParamValues = Readonly<Record<string, ParamValue | undefined>>;

export interface ParameterDef {
  readonly name: string;
  readonly kind: "number" | "boolean";
  /** Used when the configuration gives no value; absent means "no value" (undefined) unless required. */
  readonly default?: ParamValue;
  /** A model (other than the base, for methods that measure against it) must have a value. */
  readonly required?: boolean;
  /** Inclusive bounds every value the configuration can produce must respect. */
  readonly range?: readonly [number, number];
}

/** One input model's copy of the tensor being merged. */
export interface TensorInput {
  /** The model reference as the configuration wrote it. */
  readonly model: string;
  readonly isBase: boolean;
  /** This model's values of the method's tensor parameters (weight, density, ...). */
  readonly params: ParamValues;
  /** The tensor as float32 values, which the method owns and may overwrite. Called once per merge of a tensor. */
  load(): Promise<Float32Array>;
  /** A random stream proper to this tensor and input: the same seed always gives the same stream. */
  random(): SeededRandom;
}

export interface MergeJob {
  /** Output tensor name. */
  readonly tensorName: string;
  readonly shape: readonly number[];
  /** Values of the method's whole-merge parameters for this tensor. */
  readonly params: ParamValues;
  /** Every source of the slice, in configuration order (base_model included, flagged, when it is one). */
  readonly inputs: readonly TensorInput[];
}

/**
 * "reference": base_model is required and is what the other models are measured against (task vectors, SLERP's
 * start, Model Stock's anchor). "input": a base_model, when given, is just one more input (mergekit adds it to
 * the models to merge).
 */
export type BaseRole = "reference" | "input";

export interface MergeMethod {
  readonly name: string;
  readonly summary: string;
  readonly base: BaseRole;
  readonly parameters: readonly ParameterDef[];
  readonly tensorParameters: readonly ParameterDef[];
  /** A problem with the number of sources of a slice (e.g. SLERP takes two), or undefined. */
  checkSources?(count: number): string | undefined;
  /** A problem with one tensor's evaluated parameters, found while planning so nothing is written. */
  checkTensor?(job: MergeJob): string | undefined;
  merge(job: MergeJob): Promise<Float32Array>;
}

/** The numeric value of a parameter the planner has already checked and filled in. */
export function numberParam(values: ParamValues, name: string): number {
  const v = values[name];
  if (typeof v !== "number") throw new Error(`parameter ${name} was not planned as a number`);
  return v;
}

export function booleanParam(values: ParamValues, name: string): boolean {
  const v = values[name];
  if (typeof v !== "boolean") throw new Error(`parameter ${name} was not planned as a boolean`);
  return v;
}
