/** The native GEMM backends the tests run over: the kind that selects each, how kernel descriptions name it, why it is skipped here. */
import { loadNativeAddon } from "../../src/node/addon-gemm.js";
import { onnxRuntimeInstalled } from "../../src/node/onnx-gemm.js";

export const NATIVE_BACKENDS = [
  { kind: "native", name: "bitsmith native", skip: !loadNativeAddon() && "bitsmith's native addon is not built (npm run build:native)" },
  { kind: "onnxruntime", name: "onnxruntime", skip: !onnxRuntimeInstalled() && "onnxruntime-node is not installed" },
] as const;
