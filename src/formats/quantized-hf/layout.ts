/**
 * What every quantized Hugging Face layout provides: the tensors a linear becomes, their bytes, the
 * quantization_config loaders select it by, and the way back from a model's tensors to a QuantizedLinear.
 */
import type { JsonObject, ModelSource, TensorTypeInfo } from "../../core/index.js";
import type { QuantizedLinear, QuantizedLinearShape } from "./quantized-linear.js";
import type { ScaleType } from "./tensor-io.js";

export type QuantizedLayoutName = "gptq" | "awq" | "compressed-tensors";

/** GPTQ's two zero-point conventions (see gptq.ts): "gptq" stores zero - 1, "gptq_v2" stores zero. */
export type GptqCheckpointFormat = "gptq" | "gptq_v2";

export interface QuantizedLayoutOptions {
  gptq?: {
    /** Default "gptq", the format every GPTQ loader reads (see gptq.ts for why). */
    checkpointFormat?: GptqCheckpointFormat;
    /** Recorded in quantize_config.json; loaders ignore them. Defaults are AutoGPTQ's BaseQuantizeConfig's. */
    dampPercent?: number;
    trueSequential?: boolean;
    staticGroups?: boolean;
  };
  compressedTensors?: {
    /** weight_scale dtype; default from config.json's torch_dtype (bfloat16 -> BF16, float32 -> F32, else F16). */
    scaleType?: ScaleType;
  };
  /**
   * Linear modules left in floating point (their `.weight` is among the plain tensors). compressed-tensors lists
   * them in `ignore`, AWQ in `modules_to_not_convert`; GPTQ can only leave lm_head out. Default ["lm_head"].
   */
  unquantizedModules?: readonly string[];
}

/**
 * How a set of linears is quantized, as a layout's config records it: once per model (GPTQ, AWQ) or once per
 * config group (compressed-tensors). actOrder is a property of the scheme: when any of its linears has a
 * g_idx, every one of them stores one (loaders allocate it for every module the scheme covers).
 */
export interface LinearScheme {
  readonly bits: number;
  readonly groupSize: number;
  readonly symmetric: boolean;
  readonly actOrder: boolean;
}

export interface SchemeGroup {
  readonly scheme: LinearScheme;
  /** Module names, in writing order. */
  readonly modules: readonly string[];
}

/** One stored tensor of a linear: `<module>.<suffix>`. */
export interface LayoutTensor {
  readonly suffix: string;
  readonly type: TensorTypeInfo;
  readonly shape: readonly number[];
}

export interface LayoutWriteContext {
  readonly options: QuantizedLayoutOptions;
  /** The config.json the model is written with (without quantization_config). */
  readonly config: JsonObject;
}

export interface QuantizedLayout<Parsed = unknown> {
  readonly name: QuantizedLayoutName;
  /** True when one scheme must cover every linear of the model. */
  readonly singleScheme: boolean;
  /** Throws a BitsmithError when the layout cannot store a linear of this shape under this scheme. */
  check(shape: QuantizedLinearShape, scheme: LinearScheme, ctx: LayoutWriteContext): void;
  /** The tensors of one linear, in writing order. */
  tensors(shape: QuantizedLinearShape, scheme: LinearScheme, ctx: LayoutWriteContext): LayoutTensor[];
  /** Their bytes, keyed by suffix. Validates values the layout cannot store (e.g. GPTQ v1's zero point 0). */
  encode(q: QuantizedLinear, scheme: LinearScheme, ctx: LayoutWriteContext): Map<string, Uint8Array>;
  /** config.json's quantization_config, and any extra files (GPTQ's quantize_config.json). */
  configs(groups: readonly SchemeGroup[], ctx: LayoutWriteContext): { quantizationConfig: JsonObject; files: Record<string, string> };
  /** Validates a quantization_config naming this layout. */
  parseConfig(config: JsonObject, file: string): Parsed;
  /** Unpacks one linear. */
  read(model: ModelSource, module: string, config: Parsed): Promise<QuantizedLinear>;
  /** Names of the modules the model stores in this layout. */
  modules(model: ModelSource, config: Parsed): string[];
}

/** The linears left in floating point: the option, or lm_head alone. */
export function unquantizedModules(options: QuantizedLayoutOptions): readonly string[] {
  return options.unquantizedModules ?? ["lm_head"];
}

/** Module names of the tensors ending in `.<suffix>`, in the model's order. */
export function modulesWithSuffix(model: ModelSource, suffix: string): string[] {
  const end = `.${suffix}`;
  return model.tensors.filter((t) => t.name.endsWith(end)).map((t) => t.name.slice(0, -end.length));
}
