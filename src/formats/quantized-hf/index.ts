/** Quantized Hugging Face layouts (GPTQ, AWQ GEMM, compressed-tensors pack-quantized): writers and readers. */
export { dequantizeLinear, checkQuantizedLinear, groupCount, effectiveGroupSize, sequentialGIdx, symmetricZero } from "./quantized-linear.js";
export type { QuantizedLinear, QuantizedLinearShape } from "./quantized-linear.js";
export type { GptqCheckpointFormat, QuantizedLayoutName, QuantizedLayoutOptions } from "./layout.js";
export { roundToScaleType, SCALE_TYPES } from "./tensor-io.js";
export type { ScaleType } from "./tensor-io.js";
export { GPTQ_BITS } from "./gptq.js";
export { AWQ_ORDER } from "./awq.js";
export { COMPRESSED_TENSORS_BITS } from "./compressed-tensors.js";
export { QUANTIZED_LAYOUTS } from "./registry.js";
export { writeQuantizedHfModel } from "./writer.js";
export type { QuantizedLinearSource, WriteQuantizedHfOptions } from "./writer.js";
export { quantizedLayoutOf, readQuantizedLinear } from "./reader.js";
export type { QuantizedModelLayout } from "./reader.js";
