/**
 * compressed-tensors' "pack-quantized" format: what llm-compressor writes (W4A16, W8A16, with or without groups,
 * symmetric or not, with or without act-order) and vLLM's compressed-tensors WNA16 scheme and transformers'
 * compressed-tensors integration load. Per linear, from vllm-project/compressed-tensors
 * src/compressed_tensors/compressors/pack_quantized/base.py (`compress`) and helpers.py (`pack_to_int32`):
 *   weight_packed     int32 [out, in * bits / 32]  codes packed along the input dimension, first element in the
 *                     lowest bits (helpers.py: element i at bit i * num_bits);
 *   weight_scale      float [out, nGroups]  in the model's dtype (vLLM allocates it with params_dtype);
 *   weight_zero_point int32 [out * bits / 32, nGroups]  only when asymmetric, packed along the OUTPUT dimension
 *                     (`pack_to_int32(zero_point, num_bits, packed_dim=0)`);
 *   weight_shape      int64 [2] = [out, in]  (`torch.tensor(weight.shape)`);
 *   weight_g_idx      int32 [in]  only with actorder "group".
 *
 * Values are quantized to signed int8 in [-2^(bits-1), 2^(bits-1)) and pack_to_int32 adds 2^(bits-1)
 * (`offset = 1 << (num_bits - 1)`; unpack_from_int32 subtracts it): the stored field is exactly our unsigned
 * code. Zero points are signed too and get the same offset, so the stored zero is our code-domain zero; a
 * symmetric scheme has zero point 0 in the signed domain, i.e. 2^(bits-1) here. vLLM maps these to
 * uint4b8 / uint8b128 (symmetric) and uint4 / uint8 with zero points (compressed_tensors_wNa16.py).
 *
 * Only 4 and 8 bits: the compressor matches `num_bits in (4, 8)` and vLLM's WNA16_SUPPORTED_BITS is [4, 8].
 *
 * The config (quant_config.py QuantizationConfig, quant_scheme.py QuantizationScheme, quant_args.py
 * QuantizationArgs, whose models forbid unknown keys, so nothing else is written): config_groups of
 * {targets, weights, input_activations: null, output_activations: null}; weights {num_bits, type "int",
 * symmetric, group_size, strategy "group" | "channel", block_structure, dynamic, actorder, observer,
 * observer_kwargs}; format "pack-quantized", quant_method "compressed-tensors", quantization_status
 * "compressed", ignore, kv_cache_scheme null. A single scheme targets ["Linear"]; several schemes (mixed
 * precision) each target their modules by exact name.
 */
import { BitsmithError, isJsonObject } from "../../core/index.js";
import type { JsonObject, ModelSource } from "../../core/index.js";
import { packBitstream, packedWordCount, unpackBitstream } from "./bitstream.js";
import type { LayoutWriteContext, LinearScheme, QuantizedLayout, SchemeGroup } from "./layout.js";
import { modulesWithSuffix, unquantizedModules } from "./layout.js";
import { checkGIdx, checkQuantizedLinearShape, groupCount, isSequentialGIdx, sequentialGIdx } from "./quantized-linear.js";
import type { QuantizedLinear, QuantizedLinearShape } from "./quantized-linear.js";
import { decodeScales, encodeScales, int32Bytes, linearTensorReader, SCALE_TYPES, typeInfo } from "./tensor-io.js";
import type { ScaleType } from "./tensor-io.js";
import { bytesOf, viewI64 } from "../../numeric/byte-views.js";

export const COMPRESSED_TENSORS_BITS: readonly number[] = [4, 8];

interface CtScheme extends LinearScheme {
  readonly targets: readonly string[];
}

export interface CompressedTensorsConfig {
  schemes: CtScheme[];
  ignore: string[];
}

const TORCH_DTYPE_SCALES: Record<string, ScaleType> = { bfloat16: "BF16", float16: "F16", float32: "F32" };

function scaleType(ctx: LayoutWriteContext): ScaleType {
  const explicit = ctx.options.compressedTensors?.scaleType;
  if (explicit !== undefined) {
    if (!SCALE_TYPES.includes(explicit)) throw new BitsmithError(`scale type ${explicit} is not one of ${SCALE_TYPES.join(", ")}`, { field: "scaleType" });
    return explicit;
  }
  const dtype = ctx.config.torch_dtype;
  return (typeof dtype === "string" ? TORCH_DTYPE_SCALES[dtype] : undefined) ?? "F16";
}

function check(s: QuantizedLinearShape, _scheme: LinearScheme, ctx: LayoutWriteContext): void {
  checkQuantizedLinearShape(s);
  if (!COMPRESSED_TENSORS_BITS.includes(s.bits)) throw new BitsmithError(`pack-quantized stores 4 or 8 bits, not ${s.bits}`, { field: s.name });
  // vLLM allocates weight_packed as [out, in // pack_factor] and zero points as [out // pack_factor, groups].
  const perWord = 32 / s.bits;
  if (s.inFeatures % perWord !== 0) throw new BitsmithError(`in_features ${s.inFeatures} is not a multiple of ${perWord}, as ${s.bits}-bit packing needs`, { field: s.name });
  if (!s.symmetric && s.outFeatures % perWord !== 0) {
    throw new BitsmithError(`out_features ${s.outFeatures} is not a multiple of ${perWord}, as packed zero points need`, { field: s.name });
  }
  scaleType(ctx);
}

function tensors(s: QuantizedLinearShape, scheme: LinearScheme, ctx: LayoutWriteContext) {
  const groups = groupCount(s);
  const i32 = typeInfo("I32");
  return [
    { suffix: "weight_packed", type: i32, shape: [s.outFeatures, packedWordCount(s.inFeatures, s.bits)] },
    { suffix: "weight_scale", type: typeInfo(scaleType(ctx)), shape: [s.outFeatures, groups] },
    ...(s.symmetric ? [] : [{ suffix: "weight_zero_point", type: i32, shape: [packedWordCount(s.outFeatures, s.bits), groups] }]),
    { suffix: "weight_shape", type: typeInfo("I64"), shape: [2] },
    ...(scheme.actOrder ? [{ suffix: "weight_g_idx", type: i32, shape: [s.inFeatures] }] : []),
  ];
}

function encode(q: QuantizedLinear, scheme: LinearScheme, ctx: LayoutWriteContext): Map<string, Uint8Array> {
  const { outFeatures: out, inFeatures: n, bits } = q;
  const groups = groupCount(q);
  const rowWords = packedWordCount(n, bits);
  const packed = new Uint32Array(out * rowWords);
  for (let j = 0; j < out; j++) packBitstream(q.codes, j * n, 1, n, bits, packed, j * rowWords, 1);
  const result = new Map<string, Uint8Array>([
    ["weight_packed", int32Bytes(packed)],
    ["weight_scale", encodeScales(q.scales, out, groups, scaleType(ctx), false, `${q.name} weight_scale`)],
  ]);
  if (q.zeros) {
    const zeroPoints = new Uint32Array(packedWordCount(out, bits) * groups);
    // Column g: group g's zero points down the outputs.
    for (let g = 0; g < groups; g++) packBitstream(q.zeros, g, groups, out, bits, zeroPoints, g, groups);
    result.set("weight_zero_point", int32Bytes(zeroPoints));
  }
  result.set("weight_shape", bytesOf(new BigInt64Array([BigInt(out), BigInt(n)])));
  if (scheme.actOrder) result.set("weight_g_idx", int32Bytes(q.gIdx ?? sequentialGIdx(q)));
  return result;
}

function schemeJson(s: LinearScheme, targets: readonly string[]): JsonObject {
  return {
    targets: [...targets],
    weights: {
      num_bits: s.bits,
      type: "int",
      symmetric: s.symmetric,
      group_size: s.groupSize === -1 ? null : s.groupSize,
      strategy: s.groupSize === -1 ? "channel" : "group",
      block_structure: null,
      dynamic: false,
      actorder: s.actOrder ? "group" : null,
      observer: "minmax",
      observer_kwargs: {},
    },
    input_activations: null,
    output_activations: null,
  };
}

function configs(groups: readonly SchemeGroup[], ctx: LayoutWriteContext): { quantizationConfig: JsonObject; files: Record<string, string> } {
  const config_groups: JsonObject = {};
  groups.forEach((g, i) => {
    config_groups[`group_${i}`] = schemeJson(g.scheme, groups.length === 1 ? ["Linear"] : g.modules);
  });
  return {
    quantizationConfig: {
      config_groups,
      format: "pack-quantized",
      global_compression_ratio: null,
      ignore: [...unquantizedModules(ctx.options)],
      kv_cache_scheme: null,
      quant_method: "compressed-tensors",
      quantization_status: "compressed",
    },
    files: {},
  };
}

function parseScheme(name: string, value: unknown, topFormat: string, file: string): CtScheme | undefined {
  const field = `quantization_config.config_groups.${name}`;
  const fail = (why: string, sub = "") => new BitsmithError(why, { file, field: field + sub });
  if (!isJsonObject(value)) throw fail("is not an object");
  const targets = value.targets;
  if (!Array.isArray(targets) || !targets.every((t) => typeof t === "string")) throw fail("is not a list of strings", ".targets");
  const w = value.weights;
  if (w === null || w === undefined) return undefined; // an activation-only group quantizes no weights
  if (!isJsonObject(w)) throw fail("is not an object", ".weights");
  const format = typeof value.format === "string" ? value.format : topFormat;
  if (format !== "pack-quantized") throw fail(`format is ${JSON.stringify(format)}; bitsmith reads pack-quantized`);
  if (w.type !== undefined && w.type !== "int") throw fail(`is ${JSON.stringify(w.type)}; pack-quantized holds int weights`, ".weights.type");
  const bits = w.num_bits ?? 8; // QuantizationArgs' default
  if (typeof bits !== "number" || !COMPRESSED_TENSORS_BITS.includes(bits)) throw fail(`is ${JSON.stringify(bits)}; pack-quantized stores 4 or 8 bits`, ".weights.num_bits");
  const symmetric = w.symmetric ?? true;
  if (typeof symmetric !== "boolean") throw fail("is not true or false", ".weights.symmetric");
  const groupSize = w.group_size ?? null;
  // QuantizationArgs infers the strategy from group_size when absent: > 0 group, -1 channel, None tensor.
  const strategy = w.strategy ?? (groupSize === null ? "tensor" : groupSize === -1 ? "channel" : "group");
  let effective: number;
  if (strategy === "channel") effective = -1;
  else if (strategy === "group" && Number.isSafeInteger(groupSize) && (groupSize as number) > 0) effective = groupSize as number;
  else throw fail(`strategy ${JSON.stringify(strategy)} with group_size ${JSON.stringify(groupSize)}; bitsmith reads "group" (group_size > 0) and "channel"`, ".weights");
  // actorder true/"group"/"dynamic" stores weight_g_idx; "weight"/"static" only changed the calibration order.
  const actOrder = w.actorder === true || w.actorder === "group" || w.actorder === "dynamic";
  return { bits, groupSize: effective, symmetric, actOrder, targets };
}

function parseConfig(config: JsonObject, file: string): CompressedTensorsConfig {
  const topFormat = config.format;
  if (topFormat !== "pack-quantized" && topFormat !== "mixed-precision") {
    throw new BitsmithError(`is ${JSON.stringify(topFormat)}; bitsmith reads pack-quantized`, { file, field: "quantization_config.format" });
  }
  if (!isJsonObject(config.config_groups)) throw new BitsmithError("is missing or not an object", { file, field: "quantization_config.config_groups" });
  const schemes: CtScheme[] = [];
  for (const [name, value] of Object.entries(config.config_groups)) {
    const s = parseScheme(name, value, topFormat, file);
    if (s) schemes.push(s);
  }
  const ignore = config.ignore ?? [];
  if (!Array.isArray(ignore) || !ignore.every((t) => typeof t === "string")) {
    throw new BitsmithError("is not a list of strings", { file, field: "quantization_config.ignore" });
  }
  return { schemes, ignore };
}

/** compressed-tensors' target syntax: "re:" + a regular expression matched from the start (Python's re.match), else an exact name. */
function nameMatches(target: string, module: string): boolean {
  return target.startsWith("re:") ? new RegExp(`^(?:${target.slice(3)})`).test(module) : target === module;
}

/** The scheme covering `module`: a target naming it (exactly or by regex) wins over the "Linear" class target. */
function schemeFor(config: CompressedTensorsConfig, module: string, file: string): CtScheme {
  if (config.ignore.some((t) => nameMatches(t, module))) throw new BitsmithError("module is in quantization_config.ignore: it is not quantized", { file, field: module });
  const byName = config.schemes.find((s) => s.targets.some((t) => nameMatches(t, module)));
  const scheme = byName ?? config.schemes.find((s) => s.targets.includes("Linear"));
  if (!scheme) throw new BitsmithError("no config group of quantization_config targets this module", { file, field: module });
  return scheme;
}

async function read(model: ModelSource, module: string, config: CompressedTensorsConfig): Promise<QuantizedLinear> {
  const scheme = schemeFor(config, module, model.name);
  const r = linearTensorReader(model, module);
  const shapeRef = r.require("weight_shape", ["I64", "I32"], 1);
  r.expectShape(shapeRef, [2]);
  const shapeBytes = await shapeRef.read();
  const [out, n] = shapeRef.type.name === "I64" ? Array.from(viewI64(shapeBytes), Number) : Array.from(await r.words(shapeRef), (v) => v | 0);
  const shape: QuantizedLinearShape = { name: module, outFeatures: out!, inFeatures: n!, bits: scheme.bits, groupSize: scheme.groupSize, symmetric: scheme.symmetric };
  checkQuantizedLinearShape(shape, model.name);
  const { bits } = scheme;
  const groups = groupCount(shape);
  const rowWords = packedWordCount(shape.inFeatures, bits);
  const packedRef = r.require("weight_packed", ["I32"]);
  r.expectShape(packedRef, [shape.outFeatures, rowWords]);
  const scaleRef = r.require("weight_scale", ["F16", "BF16", "F32"]);
  r.expectShape(scaleRef, [shape.outFeatures, groups]);

  const codes = new Uint8Array(shape.outFeatures * shape.inFeatures);
  const packed = await r.words(packedRef);
  for (let j = 0; j < shape.outFeatures; j++) unpackBitstream(packed, j * rowWords, 1, shape.inFeatures, bits, codes, j * shape.inFeatures, 1);

  let zeros: Uint8Array | undefined;
  if (!scheme.symmetric) {
    const zpRef = r.require("weight_zero_point", ["I32"]);
    r.expectShape(zpRef, [packedWordCount(shape.outFeatures, bits), groups]);
    const words = await r.words(zpRef);
    zeros = new Uint8Array(shape.outFeatures * groups);
    for (let g = 0; g < groups; g++) unpackBitstream(words, g, groups, shape.outFeatures, bits, zeros, g, groups);
  }

  let gIdx: Int32Array | undefined;
  if (scheme.actOrder) {
    const gRef = r.require("weight_g_idx", ["I32"], 1);
    r.expectShape(gRef, [shape.inFeatures]);
    gIdx = new Int32Array(await r.words(gRef));
    checkGIdx(shape, gIdx, model.name);
    if (isSequentialGIdx(shape, gIdx)) gIdx = undefined;
  }
  return { ...shape, codes, scales: decodeScales(await scaleRef.read(), scaleRef.type, shape.outFeatures, groups, false), zeros, gIdx };
}

export const compressedTensorsLayout: QuantizedLayout<CompressedTensorsConfig> = {
  name: "compressed-tensors",
  singleScheme: false,
  check,
  tensors,
  encode,
  configs,
  parseConfig,
  read,
  modules: (model) => modulesWithSuffix(model, "weight_packed"),
};
