/**
 * Parameter values for one tensor, by mergekit's rules (config.py: evaluate_setting, ConfigReader.parameter):
 * - a gradient (list of numbers) is interpolated linearly at t in [0, 1], the layer's position within its
 *   slice (0 for the embeddings, 1 for the final norm and output); a list of other values picks element
 *   int(t·(n-1));
 * - conditions are tried in order; the first whose filter is absent, "*", or a substring of the tensor name
 *   decides; when none matches the parameter is looked up at the next level;
 * - a model's parameter is looked up in that model's entry, then the slice's parameters, then the merge's;
 *   a whole-merge parameter in the slice's, then the merge's.
 */
import type { ConditionalSetting, ParameterMap, ParameterSetting, SettingScalar, SettingValue } from "./config.js";

function isConditionList(s: ParameterSetting): s is readonly ConditionalSetting[] {
  return Array.isArray(s) && s.length > 0 && typeof s[0] === "object";
}

function evaluateValue(value: SettingValue, t: number): SettingScalar {
  if (!Array.isArray(value)) return value as SettingScalar;
  const list = value as readonly SettingScalar[];
  if (list.every((v) => typeof v === "number")) {
    const nums = list as readonly number[];
    const scaled = t * (nums.length - 1);
    const i0 = Math.trunc(scaled);
    const i1 = Math.min(nums.length - 1, i0 + 1);
    const frac = scaled - i0;
    return (1 - frac) * nums[i0]! + frac * nums[i1]!;
  }
  return list[Math.trunc(t * (list.length - 1))]!;
}

/**
 * The setting's value for a tensor known by `names` (its own name, and its Hugging Face name when the merge
 * works in GGUF names, so filters such as "self_attn" or "mlp" work either way); undefined when no condition
 * applies.
 */
export function evaluateSetting(setting: ParameterSetting, names: readonly string[], t: number): SettingScalar | undefined {
  if (!isConditionList(setting)) return evaluateValue(setting as SettingValue, t);
  for (const c of setting) {
    if (c.filter === undefined || c.filter === "*" || names.some((n) => n.includes(c.filter!))) return evaluateValue(c.value, t);
  }
  return undefined;
}

/** The parameter maps a lookup walks, most specific first. */
export type ParameterScopes = readonly (ParameterMap | undefined)[];

export function lookupParameter(name: string, scopes: ParameterScopes, names: readonly string[], t: number): SettingScalar | undefined {
  for (const scope of scopes) {
    const setting = scope?.get(name);
    if (setting === undefined) continue;
    const v = evaluateSetting(setting, names, t);
    if (v !== undefined) return v;
  }
  return undefined;
}
