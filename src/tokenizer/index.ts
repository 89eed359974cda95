export type { Tokenizer, EncodeOptions, DecodeOptions } from "./types.js";
export { createTokenizer, createModelTokenizer } from "./llama-tokenizer.js";
export type { CreateTokenizerOptions } from "./llama-tokenizer.js";
export { createHfTokenizer } from "./hf-tokenizer.js";
