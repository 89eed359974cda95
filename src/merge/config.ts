/**
 * A merge configuration in mergekit's terms (mergekit/config.py: MergeConfiguration), as parsed from its YAML
 * or built by a program. Model references are paths bitsmith can open (GGUF, Hugging Face directory, ...).
 */
import type { TensorTypeInfo } from "../core/index.js";

export type SettingScalar = number | boolean | string;
/** A scalar, or a gradient: a list interpolated across the layers of a slice. */
export type SettingValue = SettingScalar | readonly SettingScalar[];

/** mergekit's ConditionalParameter: applies to tensors whose name contains `filter` (absent or "*": all). */
export interface ConditionalSetting {
  readonly filter?: string;
  readonly value: SettingValue;
}

/** A parameter's setting: a value, or conditions tried in order (the first whose filter matches decides). */
export type ParameterSetting = SettingValue | readonly ConditionalSetting[];
export type ParameterMap = ReadonlyMap<string, ParameterSetting>;

export interface InputModel {
  readonly model: string;
  readonly parameters: ParameterMap;
}

export interface SliceSource {
  readonly model: string;
  /** Layers [start, end) of the model. */
  readonly layerRange: readonly [number, number];
  readonly parameters: ParameterMap;
}

export interface OutputSlice {
  readonly sources: readonly SliceSource[];
  /** Overrides the configuration's base_model for this slice. */
  readonly baseModel?: string;
  readonly parameters: ParameterMap;
}

/** Where the output's vocabulary comes from: the base model's, or a named model's. */
export type TokenizerSource = { readonly kind: "base" } | { readonly kind: "model"; readonly model: string };

export interface MergeConfig {
  readonly mergeMethod: string;
  /** Exactly one of models and slices is given. */
  readonly models?: readonly InputModel[];
  readonly slices?: readonly OutputSlice[];
  readonly baseModel?: string;
  readonly parameters: ParameterMap;
  /** mergekit's compute dtype; bitsmith computes in float32 and uses it as the output type when out_dtype is absent. */
  readonly dtype?: TensorTypeInfo;
  readonly outDtype?: TensorTypeInfo;
  readonly tokenizerSource?: TokenizerSource;
  /** A Jinja template, or "auto" (the template most input models share). */
  readonly chatTemplate?: string;
}

/** The models a configuration names, each once, in order of first mention. */
export function referencedModels(config: MergeConfig): string[] {
  const models = new Set<string>();
  if (config.baseModel !== undefined) models.add(config.baseModel);
  for (const m of config.models ?? []) models.add(m.model);
  for (const s of config.slices ?? []) {
    if (s.baseModel !== undefined) models.add(s.baseModel);
    for (const src of s.sources) models.add(src.model);
  }
  return [...models];
}
