/** GGUF quantization with llama.cpp's recipes (llama-quantize as a library). */
export { QUANTIZE_FILE_TYPES, parseQuantizeFileType, guessFileType, LLAMA_FTYPE_GUESSED } from "./ftype.js";
export type { QuantizeFileType } from "./ftype.js";
export { planQuantization, parseTensorTypeOverride, parseGgmlType } from "./recipe.js";
export type { PlannedTensor, RecipeModel, RecipeOptions, RecipeTensor, TensorTypeOverride } from "./recipe.js";
export { compareWeightNames } from "./tensor-order.js";
export { SingleThreadRowQuantizer, convertRows, findNonFinite } from "./row-quantizer.js";
export type { RowJob, RowQuantizer } from "./row-quantizer.js";
export { quantizeModel, planModelQuantization, quantizedMetadata, recipeModel } from "./quantize-model.js";
export type { QuantizeModelOptions, QuantizeOptions, QuantizePlan, QuantizePlanEntry, QuantizeResult } from "./quantize-model.js";
