/**
 * Calibration-based quantization: the methods on one layer (RTN, GPTQ, AWQ's pieces, outlier side lists) and
 * the sequential pipeline that runs them over a whole model and writes GGUF or quantized Hugging Face outputs.
 */
export { groupParams, paramsForRange, quantizeCode, groupColumns } from "./integer-scheme.js";
export type { IntegerScheme, GroupParams } from "./integer-scheme.js";
export { codecFormat, dequantizeWeights, formatFits } from "./weight-format.js";
export type { WeightFormat, QuantizedWeights } from "./weight-format.js";
export { rtnQuantize } from "./rtn.js";
export type { RoundedLayer } from "./rtn.js";
export { gptqQuantize } from "./gptq.js";
export type { GptqOptions, GptqResult } from "./gptq.js";
export { AWQ_GRID, AWQ_CLIP_TOKENS, awqScales, weightMagnitudes, quantizeScaled, searchAwqScales, clipWeights, layerOutputError } from "./awq.js";
export type { AwqLayer, AwqScaleSearch, AwqScaleResult } from "./awq.js";
export { outlierSaliency, selectOutliers, collectOutliers, storageBits } from "./outliers.js";
export type { OutlierOptions, SaliencyKind, SparseOutliers } from "./outliers.js";
export { quantizeBlocks } from "./pipeline/sequential.js";
export type { SequentialQuantizeOptions, QuantizationRun } from "./pipeline/sequential.js";
export { CALIBRATED_METHODS } from "./pipeline/block-methods.js";
export type { CalibratedMethod, MethodOptions, GptqMethodOptions, AwqMethodOptions } from "./pipeline/block-methods.js";
export { writeQuantizedGguf, writeQuantizedHf, quantizedModelSource, checkQuantizedHfLayout } from "./pipeline/outputs.js";
export type { QuantizedGgufOptions, QuantizedHfOptions } from "./pipeline/outputs.js";
export { MemoryQuantizationStore, DirectoryQuantizationStore } from "./pipeline/result-store.js";
export type { QuantizationStore, ResumePoint } from "./pipeline/result-store.js";
export type { BlockOutcome, LinearOutcome, LinearReport } from "./pipeline/outcome.js";
