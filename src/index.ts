/**
 * bitsmith's library API (browser-safe: no Node imports). Node file access and the progress bar are in
 * "bitsmith/node".
 */
import "./codecs/index.js";

export * from "./core/index.js";
export * from "./codecs/index.js";
export { toFloat32, fromFloat32 } from "./codecs/convert.js";
export * from "./formats/gguf/index.js";
export * from "./formats/safetensors/index.js";
export * from "./formats/llama2c/index.js";
export * from "./formats/hf/index.js";
export * from "./formats/quantized-hf/index.js";
export { openModel } from "./model/open-model.js";
export type { OpenModelOptions } from "./model/open-model.js";
export { openHfModel } from "./model/hf-source.js";
export { ggufView, ggufTensors } from "./model/gguf-view.js";
export { hfToGgufName, ggufToHfName, permuteQkRows } from "./model/llama-names.js";
export { convertToGguf } from "./convert/to-gguf.js";
export type { ConvertToGgufOptions, ConvertResult } from "./convert/to-gguf.js";
export { convertToHf } from "./convert/to-hf.js";
export type { ConvertToHfOptions } from "./convert/to-hf.js";
export { parseOutType, OUTTYPES } from "./convert/outtype.js";
export type { OutType } from "./convert/outtype.js";
export { summarizeModel } from "./inspect/summary.js";
export type { ModelSummary, TensorSummary } from "./inspect/summary.js";
export { openDemoModel, writeDemoModel, DEMO_MODEL_ARG } from "./demo/demo-source.js";
export * from "./tokenizer/index.js";
export * from "./quantize/index.js";
export * from "./formats/imatrix/index.js";
export * from "./formats/onnx/index.js";
export * from "./merge/index.js";
export * from "./calibrate/index.js";
export * from "./methods/index.js";
export * from "./kernels/index.js";
export * from "./engine/index.js";
export * from "./eval/index.js";
