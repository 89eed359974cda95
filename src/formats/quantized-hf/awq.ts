/**
 * The AWQ GEMM layout: what AutoAWQ writes and transformers' AWQ integration and vLLM's awq / awq_marlin load.
 * Per linear, from AutoAWQ's WQLinear_GEMM (casper-hansen/AutoAWQ awq/modules/linear/gemm.py, `__init__` and
 * `from_linear`):
 *   qweight int32 [in, out / 8]  eight 4-bit codes of consecutive outputs per word, packed along the OUTPUT dimension;
 *   qzeros  int32 [nGroups, out / 8]  zero points, packed the same way;
 *   scales  fp16  [nGroups, out];
 * and the bias, if any, as `<module>.bias` among the plain tensors.
 *
 * Within a word, nibble p (bits 4p..4p+3) holds output 8k + AWQ_ORDER[p] with AWQ_ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
 * (`order_map` in from_linear; awq/utils/packing_utils.py has AWQ_ORDER and its inverse
 * AWQ_REVERSE_ORDER = [0, 4, 1, 5, 2, 6, 3, 7] used to unpack).
 *
 * Zero points are stored as they are: dequantize_gemm computes `(iweight - izeros) * scales` with no offset
 * (packing_utils.py; the same file's unpack_reorder_pack subtracts 1 only to convert to GPTQ/ExLlama's
 * convention). AWQ has no symmetric mode (WQLinear_GEMM requires zeros); a symmetric linear is stored with its
 * implied zero point 2^(bits-1) and reads back as asymmetric, with identical weights. AWQ has no g_idx.
 *
 * Group size -1 (per-channel) is what WQLinear_GEMM turns into in_features and vLLM's awq_marlin accepts; vLLM's
 * plain awq kernel (pre-Ampere GPUs) needs a positive group size.
 *
 * config.json's quantization_config is AutoAWQ's AwqConfig.to_transformers_dict() (awq/models/_config.py):
 * quant_method "awq", zero_point true, group_size, bits 4, version "gemm", modules_to_not_convert.
 */
import { BitsmithError } from "../../core/index.js";
import type { JsonObject, ModelSource } from "../../core/index.js";
import { optionalBoolean, optionalInteger } from "../hf/json-file.js";
import type { LayoutWriteContext, LinearScheme, QuantizedLayout, SchemeGroup } from "./layout.js";
import { modulesWithSuffix, unquantizedModules } from "./layout.js";
import { checkQuantizedLinearShape, groupCount, symmetricZero } from "./quantized-linear.js";
import type { QuantizedLinear, QuantizedLinearShape } from "./quantized-linear.js";
import { decodeScales, encodeScales, int32Bytes, linearTensorReader, typeInfo } from "./tensor-io.js";

/** Output column (within a run of eight) that nibble p of a word holds. */
export const AWQ_ORDER: readonly number[] = [0, 2, 4, 6, 1, 3, 5, 7];
const BITS = 4;
const PER_WORD = 8;

export interface AwqConfig {
  groupSize: number;
}

function check(s: QuantizedLinearShape, scheme: LinearScheme): void {
  checkQuantizedLinearShape(s);
  // Transformers' AWQ integration quantizes the decoder blocks only; its config cannot say lm_head is quantized.
  if (s.name === "lm_head") throw new BitsmithError("AWQ's config cannot mark lm_head quantized; keep it in float", { field: s.name });
  if (s.bits !== BITS) throw new BitsmithError(`AWQ's GEMM layout stores 4 bits, not ${s.bits}`, { field: s.name });
  if (s.outFeatures % PER_WORD !== 0) throw new BitsmithError(`out_features ${s.outFeatures} is not a multiple of 8, as AWQ packing needs`, { field: s.name });
  if (scheme.actOrder) throw new BitsmithError("AWQ has no g_idx: act-order linears need the GPTQ or compressed-tensors layout", { field: s.name });
}

function tensors(s: QuantizedLinearShape) {
  const groups = groupCount(s);
  const i32 = typeInfo("I32");
  return [
    { suffix: "qweight", type: i32, shape: [s.inFeatures, s.outFeatures / PER_WORD] },
    { suffix: "qzeros", type: i32, shape: [groups, s.outFeatures / PER_WORD] },
    { suffix: "scales", type: typeInfo("F16"), shape: [groups, s.outFeatures] },
  ];
}

/**
 * Packs `rows` runs of `out` values, where value (row r, output j) is src[j * stride + r], into [rows][out / 8]
 * words in AWQ's nibble order.
 */
function packAwq(src: ArrayLike<number>, rows: number, out: number, stride: number): Uint32Array {
  const wordsPerRow = out / PER_WORD;
  const dst = new Uint32Array(rows * wordsPerRow);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < wordsPerRow; k++) {
      let word = 0;
      for (let p = 0; p < PER_WORD; p++) word |= src[(k * PER_WORD + AWQ_ORDER[p]!) * stride + r]! << (BITS * p);
      dst[r * wordsPerRow + k] = word;
    }
  }
  return dst;
}

/** The inverse of packAwq, writing value (row r, output j) to dst[j * stride + r]. */
function unpackAwq(words: Uint32Array, rows: number, out: number, stride: number, dst: Uint8Array): void {
  const wordsPerRow = out / PER_WORD;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < wordsPerRow; k++) {
      const word = words[r * wordsPerRow + k]!;
      for (let p = 0; p < PER_WORD; p++) dst[(k * PER_WORD + AWQ_ORDER[p]!) * stride + r] = (word >>> (BITS * p)) & 0xf;
    }
  }
}

function encode(q: QuantizedLinear): Map<string, Uint8Array> {
  const { outFeatures: out, inFeatures: n } = q;
  const groups = groupCount(q);
  const zeros = q.zeros ?? new Uint8Array(out * groups).fill(symmetricZero(q.bits));
  return new Map([
    ["qweight", int32Bytes(packAwq(q.codes, n, out, n))],
    ["qzeros", int32Bytes(packAwq(zeros, groups, out, groups))],
    ["scales", encodeScales(q.scales, out, groups, "F16", true, `${q.name} scales`)],
  ]);
}

function configs(groups: readonly SchemeGroup[], ctx: LayoutWriteContext): { quantizationConfig: JsonObject; files: Record<string, string> } {
  const { scheme } = groups[0]!;
  // lm_head is never converted by AWQ; the list names modules inside the blocks that stay in float.
  const notConverted = unquantizedModules(ctx.options).filter((m) => m !== "lm_head");
  return {
    quantizationConfig: {
      quant_method: "awq",
      zero_point: true,
      group_size: scheme.groupSize,
      bits: BITS,
      version: "gemm",
      modules_to_not_convert: notConverted.length > 0 ? notConverted : null,
    },
    files: {},
  };
}

function parseConfig(config: JsonObject, file: string): AwqConfig {
  const field = (name: string) => `quantization_config.${name}`;
  // AutoAWQ's own quant_config.json spells them w_bit and q_group_size; vLLM's AWQConfig accepts both spellings.
  const bitsKey = config.bits !== undefined ? "bits" : "w_bit";
  const bits = optionalInteger(config, bitsKey, file, 1, field(bitsKey));
  if (bits !== BITS) throw new BitsmithError(`is ${JSON.stringify(config[bitsKey])}; AWQ's GEMM layout stores 4 bits`, { file, field: field(bitsKey) });
  const groupKey = config.group_size !== undefined ? "group_size" : "q_group_size";
  const groupSize = optionalInteger(config, groupKey, file, -1, field(groupKey)) ?? -1;
  if (groupSize === 0) throw new BitsmithError("is 0; expected -1 or a positive group size", { file, field: field(groupKey) });
  if (optionalBoolean(config, "zero_point", file) === false) {
    throw new BitsmithError("is false; AWQ's GEMM layout always stores zero points", { file, field: field("zero_point") });
  }
  const version = typeof config.version === "string" ? config.version.toLowerCase() : "gemm";
  if (version !== "gemm") throw new BitsmithError(`is ${JSON.stringify(config.version)}; bitsmith reads AWQ's GEMM layout`, { file, field: field("version") });
  return { groupSize };
}

async function read(model: ModelSource, module: string, config: AwqConfig): Promise<QuantizedLinear> {
  const r = linearTensorReader(model, module);
  const qweightRef = r.require("qweight", ["I32"]);
  const [n, wordsPerRow] = qweightRef.shape as [number, number];
  const out = wordsPerRow * PER_WORD;
  const shape: QuantizedLinearShape = { name: module, outFeatures: out, inFeatures: n, bits: BITS, groupSize: config.groupSize, symmetric: false };
  checkQuantizedLinearShape(shape, model.name);
  const groups = groupCount(shape);
  const qzerosRef = r.require("qzeros", ["I32"]);
  r.expectShape(qzerosRef, [groups, wordsPerRow]);
  const scalesRef = r.require("scales", ["F16", "BF16", "F32"]);
  r.expectShape(scalesRef, [groups, out]);

  const codes = new Uint8Array(out * n);
  unpackAwq(await r.words(qweightRef), n, out, n, codes);
  const zeros = new Uint8Array(out * groups);
  unpackAwq(await r.words(qzerosRef), groups, out, groups, zeros);
  return { ...shape, codes, scales: decodeScales(await scalesRef.read(), scalesRef.type, groups, out, true), zeros };
}

export const awqLayout: QuantizedLayout<AwqConfig> = {
  name: "awq",
  singleScheme: true,
  check,
  tensors,
  encode,
  configs,
  parseConfig,
  read,
  modules: (model) => modulesWithSuffix(model, "qweight"),
};
