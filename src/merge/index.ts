/** Model merging (mergekit-compatible configurations and methods) and task vectors as files. */
export type { MergeConfig, InputModel, OutputSlice, SliceSource, ParameterMap, ParameterSetting, ConditionalSetting, SettingValue, TokenizerSource } from "./config.js";
export { referencedModels } from "./config.js";
export { parseMergeConfig, parseDtypeName } from "./parse-config.js";
export { evaluateSetting } from "./parameters.js";
export { MERGE_METHODS, getMergeMethod } from "./methods/registry.js";
export type { MergeMethod, MergeJob, TensorInput, ParameterDef, ParamValues } from "./methods/method.js";
export { planMerge } from "./plan.js";
export type { MergePlan, MergePlanOptions } from "./plan.js";
export { mergeModels } from "./merge.js";
export type { MergeOptions, MergeResult } from "./merge.js";
export { writeModelOutput } from "./model-output.js";
export type { ModelOutputOptions } from "./model-output.js";
export { taskVectorSource, appliedTaskVectorSource, diffModels, applyTaskVector } from "./task-vectors.js";
export type { TaskVectorOptions } from "./task-vectors.js";
