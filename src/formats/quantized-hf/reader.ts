/**
 * Reading quantized linears back from a Hugging Face model (a ModelSource from openModel): the layout is
 * recognised from config.json's quantization_config, as transformers and vLLM select their loaders.
 */
import type { JsonObject, ModelSource } from "../../core/index.js";
import type { QuantizedLayoutName } from "./layout.js";
import type { QuantizedLinear } from "./quantized-linear.js";
import { layoutOfConfig } from "./registry.js";

export interface QuantizedModelLayout {
  readonly name: QuantizedLayoutName;
  /** Names of the quantized modules, in the model's tensor order. */
  modules(): string[];
  /** Unpacks one module. */
  read(module: string): Promise<QuantizedLinear>;
}

/**
 * The layout of `model`. `quantizationConfig` overrides config.json's (for directories that carry it only in
 * AutoGPTQ's quantize_config.json).
 */
export function quantizedLayoutOf(model: ModelSource, quantizationConfig?: JsonObject): QuantizedModelLayout {
  const { layout, parsed } = layoutOfConfig(quantizationConfig ?? model.metadata.get("quantization_config"), model.name);
  return {
    name: layout.name,
    modules: () => layout.modules(model, parsed),
    read: (module) => layout.read(model, module, parsed),
  };
}

export async function readQuantizedLinear(model: ModelSource, module: string, quantizationConfig?: JsonObject): Promise<QuantizedLinear> {
  return quantizedLayoutOf(model, quantizationConfig).read(module);
}
