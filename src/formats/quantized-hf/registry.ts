/** The layouts by name, and recognising which one a quantization_config describes. */
import { BitsmithError, isJsonObject } from "../../core/index.js";
import type { JsonObject } from "../../core/index.js";
import { awqLayout } from "./awq.js";
import { compressedTensorsLayout } from "./compressed-tensors.js";
import { gptqLayout } from "./gptq.js";
import type { QuantizedLayout, QuantizedLayoutName } from "./layout.js";

export const QUANTIZED_LAYOUTS: Readonly<Record<QuantizedLayoutName, QuantizedLayout<unknown>>> = {
  gptq: gptqLayout as QuantizedLayout<unknown>,
  awq: awqLayout as QuantizedLayout<unknown>,
  "compressed-tensors": compressedTensorsLayout as QuantizedLayout<unknown>,
};

export function quantizedLayout(name: string): QuantizedLayout<unknown> {
  const layout = (QUANTIZED_LAYOUTS as Record<string, QuantizedLayout<unknown> | undefined>)[name];
  if (!layout) throw new BitsmithError(`unknown layout "${name}"; expected ${Object.keys(QUANTIZED_LAYOUTS).join(", ")}`, { field: "layout" });
  return layout;
}

/** The layout a config.json quantization_config names by its quant_method, with the config validated for it. */
export function layoutOfConfig(config: unknown, file: string): { layout: QuantizedLayout<unknown>; parsed: unknown } {
  if (!isJsonObject(config)) throw new BitsmithError("config.json has no quantization_config object: the model is not quantized", { file, field: "quantization_config" });
  const method = (config as JsonObject).quant_method;
  const layout = typeof method === "string" ? (QUANTIZED_LAYOUTS as Record<string, QuantizedLayout<unknown> | undefined>)[method.toLowerCase()] : undefined;
  if (!layout) {
    throw new BitsmithError(`is ${JSON.stringify(method)}; bitsmith reads ${Object.keys(QUANTIZED_LAYOUTS).join(", ")}`, { file, field: "quantization_config.quant_method" });
  }
  return { layout, parsed: layout.parseConfig(config, file) };
}
