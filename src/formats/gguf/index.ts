export * from "./values.js";
export { readGguf, ggufAlignment, GGUF_DEFAULT_ALIGNMENT, GGUF_KEY_ALIGNMENT, GGUF_VERSION } from "./reader.js";
export type { GgufFile, GgufTensorRef } from "./reader.js";
export { GgufWriter } from "./writer.js";
export type { GgufTensorSpec, GgufSplitLimits } from "./writer.js";
export { openGgufModel, readGgufFile } from "./model-source.js";
export type { GgufModel } from "./model-source.js";
export { ggufModelInfo, ggufTokenizerInfo } from "./model-info.js";
export { ggufSplitPath, parseGgufSplitPath, GGUF_KEY_SPLIT_NO, GGUF_KEY_SPLIT_COUNT, GGUF_KEY_SPLIT_TENSORS_COUNT } from "./split-files.js";
