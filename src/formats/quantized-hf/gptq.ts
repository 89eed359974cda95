/**
 * The GPTQ layout: what AutoGPTQ writes and transformers (through optimum / GPTQModel), vLLM, ExLlama and
 * AutoGPTQ itself load. Per linear, from AutoGPTQ's QuantLinear buffers
 * (AutoGPTQ/AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py, `__init__` and `pack`):
 *   qweight  int32 [in * bits / 32, out]  codes packed along the input dimension (bitstream.ts), one column per output;
 *   qzeros   int32 [nGroups, out * bits / 32]  zero points packed along the output dimension;
 *   scales   fp16  [nGroups, out];
 *   g_idx    int32 [in]  group of each input column (i // group_size without act-order);
 * and the bias, if any, as `<module>.bias` among the plain tensors.
 *
 * Zero points: AutoGPTQ's pack does `zeros -= 1` before packing and every dequantizer adds it back
 * (`zeros = zeros + 1` in the same file's forward, vLLM's gptq kernels `zeros[i] + 1`). GPTQModel calls this
 * checkpoint_format "gptq" and added "gptq_v2", which stores the zero itself; vLLM reads "gptq_v2" only in recent
 * versions (vllm-project/vllm PR 26092) and transformers only through GPTQModel. So "gptq" is the default here:
 * every GPTQ loader reads it. Its price: a zero point of 0 cannot be stored (0 - 1 wraps to all ones, which
 * loaders read as 2^bits), so the writer refuses it and names "gptq_v2" as the way out.
 *
 * quantize_config.json and config.json's quantization_config carry AutoGPTQ's BaseQuantizeConfig.to_dict()
 * (auto_gptq/quantization/config.py): bits, group_size, damp_percent, desc_act, static_groups, sym,
 * true_sequential, model_name_or_path, model_file_base_name, quant_method "gptq", checkpoint_format.
 * vLLM's GPTQConfig.from_config reads bits, group_size and desc_act from the same object.
 */
import { BitsmithError, isJsonObject } from "../../core/index.js";
import type { JsonObject, ModelSource } from "../../core/index.js";
import { optionalBoolean, optionalInteger } from "../hf/json-file.js";
import { packBitstream, unpackBitstream } from "./bitstream.js";
import type { GptqCheckpointFormat, LayoutWriteContext, LinearScheme, QuantizedLayout, SchemeGroup } from "./layout.js";
import { modulesWithSuffix, unquantizedModules } from "./layout.js";
import {
  checkGIdx,
  checkQuantizedLinearShape,
  groupCount,
  isSequentialGIdx,
  sequentialGIdx,
  symmetricZero,
} from "./quantized-linear.js";
import type { QuantizedLinear, QuantizedLinearShape } from "./quantized-linear.js";
import { decodeScales, encodeScales, int32Bytes, linearTensorReader, typeInfo } from "./tensor-io.js";

/** AutoGPTQ's BaseQuantizeConfig: `bits ... metadata={"choices": [2, 3, 4, 8]}`. */
export const GPTQ_BITS: readonly number[] = [2, 3, 4, 8];
const FORMATS: readonly GptqCheckpointFormat[] = ["gptq", "gptq_v2"];

export interface GptqConfig {
  bits: number;
  groupSize: number;
  descAct: boolean;
  sym: boolean;
  checkpointFormat: GptqCheckpointFormat;
}

const zeroOffset = (format: GptqCheckpointFormat) => (format === "gptq" ? 1 : 0);
const formatOf = (ctx: LayoutWriteContext) => ctx.options.gptq?.checkpointFormat ?? "gptq";

function checkDense(count: number, bits: number, what: string, name: string): void {
  if ((count * bits) % 32 !== 0) {
    throw new BitsmithError(`${what} ${count} x ${bits} bits is not a whole number of int32 words, as GPTQ packing needs`, { field: name });
  }
}

function check(s: QuantizedLinearShape, _scheme: LinearScheme, ctx: LayoutWriteContext): void {
  checkQuantizedLinearShape(s);
  // Transformers' GPTQ integration quantizes the decoder blocks only; its config cannot say lm_head is quantized.
  if (s.name === "lm_head") throw new BitsmithError("GPTQ's config cannot mark lm_head quantized; keep it in float", { field: s.name });
  if (!GPTQ_BITS.includes(s.bits)) throw new BitsmithError(`GPTQ stores 2, 3, 4 or 8 bits, not ${s.bits}`, { field: s.name });
  checkDense(s.inFeatures, s.bits, "in_features", s.name);
  checkDense(s.outFeatures, s.bits, "out_features", s.name);
  const format = formatOf(ctx);
  if (!FORMATS.includes(format)) throw new BitsmithError(`unknown GPTQ checkpoint format "${format}"; expected gptq or gptq_v2`, { field: "checkpointFormat" });
}

function tensors(s: QuantizedLinearShape) {
  const groups = groupCount(s);
  const i32 = typeInfo("I32");
  return [
    { suffix: "qweight", type: i32, shape: [(s.inFeatures * s.bits) / 32, s.outFeatures] },
    { suffix: "qzeros", type: i32, shape: [groups, (s.outFeatures * s.bits) / 32] },
    { suffix: "scales", type: typeInfo("F16"), shape: [groups, s.outFeatures] },
    { suffix: "g_idx", type: i32, shape: [s.inFeatures] },
  ];
}

function encode(q: QuantizedLinear, _scheme: LinearScheme, ctx: LayoutWriteContext): Map<string, Uint8Array> {
  const { outFeatures: out, inFeatures: n, bits } = q;
  const groups = groupCount(q);
  const format = formatOf(ctx);
  const qweight = new Uint32Array(((n * bits) / 32) * out);
  // Row j of the codes is output j's input stream; its words go down column j of qweight.
  for (let j = 0; j < out; j++) packBitstream(q.codes, j * n, 1, n, bits, qweight, j, out);

  const stored = new Int32Array(out * groups);
  const offset = zeroOffset(format);
  for (let c = 0; c < stored.length; c++) {
    const zero = q.zeros ? q.zeros[c]! : symmetricZero(bits);
    if (zero - offset < 0) {
      throw new BitsmithError(
        `zero point 0 (output ${Math.floor(c / groups)}, group ${c % groups}) cannot be stored in checkpoint format "gptq", which stores zero - 1; use checkpoint format "gptq_v2" or keep zero points >= 1`,
        { field: `${q.name} zeros` },
      );
    }
    stored[c] = zero - offset;
  }
  const zeroWords = (out * bits) / 32;
  const qzeros = new Uint32Array(groups * zeroWords);
  // Row g of qzeros is group g's zero points across the outputs.
  for (let g = 0; g < groups; g++) packBitstream(stored, g, groups, out, bits, qzeros, g * zeroWords, 1);

  return new Map([
    ["qweight", int32Bytes(qweight)],
    ["qzeros", int32Bytes(qzeros)],
    ["scales", encodeScales(q.scales, out, groups, "F16", true, `${q.name} scales`)],
    ["g_idx", int32Bytes(q.gIdx ?? sequentialGIdx(q))],
  ]);
}

function configs(groups: readonly SchemeGroup[], ctx: LayoutWriteContext): { quantizationConfig: JsonObject; files: Record<string, string> } {
  const { scheme } = groups[0]!;
  const unquantized = unquantizedModules(ctx.options).filter((m) => m !== "lm_head");
  if (unquantized.length > 0) {
    throw new BitsmithError(`GPTQ's config quantizes every linear of the decoder blocks; it cannot leave ${unquantized[0]} in float`, {
      field: "unquantizedModules",
    });
  }
  const gptq = ctx.options.gptq ?? {};
  // Key order and defaults as AutoGPTQ's BaseQuantizeConfig.to_dict().
  const config: JsonObject = {
    bits: scheme.bits,
    group_size: scheme.groupSize,
    damp_percent: gptq.dampPercent ?? 0.01,
    desc_act: scheme.actOrder,
    static_groups: gptq.staticGroups ?? false,
    sym: scheme.symmetric,
    true_sequential: gptq.trueSequential ?? true,
    model_name_or_path: null,
    model_file_base_name: "model",
    quant_method: "gptq",
    checkpoint_format: formatOf(ctx),
  };
  return { quantizationConfig: config, files: { "quantize_config.json": JSON.stringify(config, null, 2) } };
}

function parseConfig(config: JsonObject, file: string): GptqConfig {
  const field = (name: string) => `quantization_config.${name}`;
  const bits = optionalInteger(config, "bits", file, 1, field("bits"));
  if (bits === undefined || !GPTQ_BITS.includes(bits)) {
    throw new BitsmithError(`is ${JSON.stringify(config.bits)}; GPTQ stores 2, 3, 4 or 8 bits`, { file, field: field("bits") });
  }
  const groupSize = optionalInteger(config, "group_size", file, -1, field("group_size")) ?? -1;
  if (groupSize === 0) throw new BitsmithError("is 0; expected -1 or a positive group size", { file, field: field("group_size") });
  const format = config.checkpoint_format ?? "gptq";
  if (format !== "gptq" && format !== "gptq_v2") {
    throw new BitsmithError(`is ${JSON.stringify(format)}; bitsmith reads the "gptq" and "gptq_v2" formats`, { file, field: field("checkpoint_format") });
  }
  if (isJsonObject(config.dynamic) && Object.keys(config.dynamic).length > 0) {
    throw new BitsmithError("per-module overrides (GPTQModel's dynamic) are not supported", { file, field: field("dynamic") });
  }
  return {
    bits,
    groupSize,
    descAct: optionalBoolean(config, "desc_act", file) ?? false,
    // AutoGPTQ's from_quant_config: "Defaulting to `sym=True`" when the key is absent.
    sym: optionalBoolean(config, "sym", file) ?? true,
    checkpointFormat: format,
  };
}

async function read(model: ModelSource, module: string, config: GptqConfig): Promise<QuantizedLinear> {
  const r = linearTensorReader(model, module);
  const { bits } = config;
  const qweightRef = r.require("qweight", ["I32"]);
  const [words, out] = qweightRef.shape as [number, number];
  const where = { file: model.name, field: qweightRef.name };
  if ((words * 32) % bits !== 0) throw new BitsmithError(`${words} rows of int32 do not hold whole ${bits}-bit codes`, where);
  const shape: QuantizedLinearShape = { name: module, outFeatures: out, inFeatures: (words * 32) / bits, bits, groupSize: config.groupSize, symmetric: config.sym };
  checkQuantizedLinearShape(shape, model.name);
  const n = shape.inFeatures;
  const groups = groupCount(shape);
  if ((out * bits) % 32 !== 0) throw new BitsmithError(`out_features ${out} x ${bits} bits do not fill whole qzeros words`, where);
  const zeroWords = (out * bits) / 32;
  const qzerosRef = r.require("qzeros", ["I32"]);
  r.expectShape(qzerosRef, [groups, zeroWords]);
  const scalesRef = r.require("scales", ["F16", "BF16", "F32"]);
  r.expectShape(scalesRef, [groups, out]);

  const qweight = await r.words(qweightRef);
  const codes = new Uint8Array(out * n);
  for (let j = 0; j < out; j++) unpackBitstream(qweight, j, out, n, bits, codes, j * n, 1);

  const qzeros = await r.words(qzerosRef);
  const zeros = new Int32Array(out * groups);
  for (let g = 0; g < groups; g++) unpackBitstream(qzeros, g * zeroWords, 1, out, bits, zeros, g, groups);
  // As loaders do: under "gptq" a stored all-ones field (what AutoGPTQ's pack leaves for zero point 0) becomes
  // 2^bits, outside the code range; it is returned as loaders compute it.
  const offset = zeroOffset(config.checkpointFormat);
  for (let c = 0; c < zeros.length; c++) zeros[c]! += offset;
  if (config.sym) {
    // Marlin-family kernels ignore qzeros when sym is set; the others read them. A file where they differ is ambiguous.
    const bad = zeros.findIndex((z) => z !== symmetricZero(bits));
    if (bad >= 0) {
      throw new BitsmithError(`config says sym but qzeros hold zero point ${zeros[bad]} (not ${symmetricZero(bits)}) at output ${Math.floor(bad / groups)}, group ${bad % groups}`, {
        file: model.name,
        field: qzerosRef.name,
      });
    }
  }

  let gIdx: Int32Array | undefined;
  const gIdxRef = r.find("g_idx");
  if (gIdxRef) {
    const ref = r.require("g_idx", ["I32"], 1);
    r.expectShape(ref, [n]);
    gIdx = new Int32Array(await r.words(ref));
    checkGIdx(shape, gIdx, model.name);
    if (isSequentialGIdx(shape, gIdx)) gIdx = undefined;
    else if (!config.descAct) {
      // vLLM and ExLlama use g_idx only under desc_act; AutoGPTQ's torch kernel always does.
      throw new BitsmithError("g_idx is not i // group_size but desc_act is false: loaders disagree on this file", { file: model.name, field: ref.name });
    }
  }
  return {
    ...shape,
    codes,
    scales: decodeScales(await scalesRef.read(), scalesRef.type, groups, out, true),
    zeros: config.sym ? undefined : zeros,
    gIdx,
  };
}

export const gptqLayout: QuantizedLayout<GptqConfig> = {
  name: "gptq",
  singleScheme: true,
  check,
  tensors,
  encode,
  configs,
  parseConfig,
  read,
  modules: (model) => modulesWithSuffix(model, "qweight"),
};
