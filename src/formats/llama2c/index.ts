export { openLlama2c, LLAMA2C_CONVERTER_CONTEXT_LENGTH } from "./open.js";
export { readLlama2cHeader, llama2cTensors, llama2cHeaderFields, LLAMA2C_HEADER_BYTES } from "./checkpoint.js";
export type { Llama2cHeader } from "./checkpoint.js";
export { readLlama2cTokenizer } from "./tokenizer.js";
