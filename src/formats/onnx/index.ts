/** ONNX: the model encoder bitsmith uses for its own graphs (the native kernel path's GEMM). */
export { encodeOnnxModel } from "./onnx-model.js";
export type { OnnxGraph, OnnxNode, OnnxValue } from "./onnx-model.js";
