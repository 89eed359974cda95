/**
 * Node-only parts of bitsmith: files on disk (atomic writes), the stderr progress bar, the worker pool and what
 * runs on it (row quantization, the matrix kernels).
 */
export { FileByteSource, AtomicFileSink, nodeFileSystem } from "./fs.js";
export { StderrProgressBar } from "./progress-bar.js";
export { WorkerRowQuantizer } from "./worker-row-quantizer.js";
export { WorkerPool } from "./worker-pool.js";
export { WorkerKernelExecutor } from "./worker-kernel-executor.js";
export { createNodeKernels, enableRelaxedSimd, nativeBackends, NODE_KERNEL_KINDS } from "./kernels.js";
export type { NodeKernelKind, NodeKernelOptions } from "./kernels.js";
export { OnnxGemm, onnxRuntimeInstalled } from "./onnx-gemm.js";
export { AddonGemm, loadNativeAddon } from "./addon-gemm.js";
export type { NativeAddon } from "./addon-gemm.js";
