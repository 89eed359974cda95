/**
 * Turning a finished QuantizationRun into files, reading one block from the store at a time:
 *
 *  - GGUF: every block linear as its ggml bytes (or F16 where it was kept), the norms as the method left them
 *    (AWQ folds its scales into them), every other tensor as `convert` would write it (embeddings and the
 *    output head are not quantized, as in GPTQ and AWQ tools);
 *  - a Hugging Face directory in a quantized layout (GPTQ, AWQ GEMM, compressed-tensors pack-quantized, written
 *    by src/formats/quantized-hf): Q/K rows back in Hugging Face order; layers kept in float listed as
 *    unquantized modules; the outlier method's side lists as `<module>.outlier_indices` (I32, row · in + col in
 *    Hugging Face order) and `<module>.outlier_values` (F16) beside the module's packed tensors — bitsmith's own
 *    addition, which no loader reads (the dense part alone is a valid model);
 *  - in memory, as a float32 model in GGUF terms (for evaluation).
 */
import { BitsmithError, tensorType } from "../../core/index.js";
import type { FileSystemLike, ModelSource, Progress, TensorRef, TensorTypeInfo } from "../../core/index.js";
import { fromFloat32 } from "../../codecs/convert.js";
import { FILE_TYPES } from "../../convert/gguf-metadata.js";
import { sourceGgufMetadata, writeGgufOutput } from "../../convert/gguf-output.js";
import type { GgufOutputTensor } from "../../convert/gguf-output.js";
import { outputTensorType } from "../../convert/outtype.js";
import { transcode } from "../../convert/tensor-transcode.js";
import { HF_CLASS, hfConfig } from "../../convert/to-hf.js";
import type { GgufSplitLimits } from "../../formats/gguf/index.js";
import { QUANTIZED_LAYOUTS, writeQuantizedHfModel } from "../../formats/quantized-hf/index.js";
import type { QuantizedLayoutName, QuantizedLayoutOptions, QuantizedLinear, QuantizedLinearSource } from "../../formats/quantized-hf/index.js";
import type { TensorToWrite } from "../../formats/safetensors/index.js";
import { computedTensorRef } from "../../merge/derived-source.js";
import { tokenizerSideFiles } from "../../merge/model-output.js";
import { runnableHParams } from "../../engine/index.js";
import { ggufView } from "../../model/gguf-view.js";
import { ggufToHfName, layerIndex, permuteQkRows, qkPermutationHeads } from "../../model/llama-names.js";
import { bytesOf, viewF32, viewI32 } from "../../numeric/byte-views.js";
import { dequantizeWeights, formatFits } from "../weight-format.js";
import type { WeightFormat } from "../weight-format.js";
import type { BlockOutcome, LinearOutcome } from "./outcome.js";
import type { QuantizationRun } from "./sequential.js";

/** Reads blocks from the store, keeping the last one (writers visit a block's tensors together). */
class BlockReader {
  private cached?: BlockOutcome;

  constructor(private readonly run: QuantizationRun) {}

  async block(layer: number): Promise<BlockOutcome> {
    if (this.cached?.layer !== layer) this.cached = await this.run.store.readBlock(layer);
    return this.cached;
  }

  async linear(name: string): Promise<LinearOutcome | undefined> {
    const layer = layerIndex(name);
    if (layer === undefined || layer >= this.run.numLayers) return undefined;
    return (await this.block(layer)).linears.find((l) => l.name === name);
  }
}

const BLOCK_LINEAR = /^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;
const BLOCK_VECTOR = /^blk\.\d+\.(attn_norm\.weight|ffn_norm\.weight|attn_v\.bias)$/;

/** A block vector (norm or v bias) as the method left it, or undefined when the method did not change it. */
async function blockVector(reader: BlockReader, name: string): Promise<Float32Array | undefined> {
  const b = await reader.block(layerIndex(name)!);
  if (name.endsWith("attn_norm.weight")) return b.attnNorm;
  if (name.endsWith("ffn_norm.weight")) return b.ffnNorm;
  return b.vBias;
}

/** The quantized model as float32 tensors in GGUF terms: what an engine computes with (for evaluation). */
export function quantizedModelSource(run: QuantizationRun): ModelSource {
  const reader = new BlockReader(run);
  const f32 = tensorType("F32")!;
  const tensors: TensorRef[] = run.source.tensors.map((t) => {
    if (BLOCK_LINEAR.test(t.name)) {
      return computedTensorRef({
        name: t.name,
        shape: t.shape,
        type: f32,
        async compute() {
          const l = (await reader.linear(t.name))!;
          return l.weights ? dequantizeWeights(l.weights, l.rows, l.cols) : l.kept!;
        },
      });
    }
    if (BLOCK_VECTOR.test(t.name)) {
      return computedTensorRef({
        name: t.name,
        shape: t.shape,
        type: f32,
        async compute() {
          return (await blockVector(reader, t.name)) ?? transcodeToF32(await t.read(), t);
        },
      });
    }
    return t;
  });
  // GGUF names and rows: a GGUF model, whose key/values are what a GGUF output of it would carry.
  return { ...run.source, format: "gguf", metadata: new Map(sourceGgufMetadata(run.source)), tensors };
}

function transcodeToF32(bytes: Uint8Array, t: TensorRef): Float32Array {
  return viewF32(transcode(bytes, t.type, tensorType("F32")!, t.shape).slice());
}

export interface QuantizedGgufOptions {
  readonly progress?: Progress;
  readonly split?: GgufSplitLimits;
}

/** Writes the run as a GGUF file (or gguf-split shards); returns the files written. */
export async function writeQuantizedGguf(run: QuantizationRun, fs: FileSystemLike, outPath: string, options: QuantizedGgufOptions = {}): Promise<string[]> {
  const reader = new BlockReader(run);
  const first = await reader.block(0);
  const codecName = first.linears.find((l) => l.weights?.kind === "codec")?.weights;
  if (first.linears.some((l) => l.weights?.kind === "integer")) {
    throw new BitsmithError("integer groups have no GGUF form: quantize with a ggml type (--format gguf:TYPE) or write a Hugging Face layout", { file: outPath });
  }
  const f16 = tensorType("F16")!;
  const f32 = tensorType("F32")!;
  const tensors: GgufOutputTensor[] = [];
  for (const t of run.source.tensors) {
    let type: TensorTypeInfo;
    let encode: () => Promise<Uint8Array>;
    if (BLOCK_LINEAR.test(t.name)) {
      const l = (await reader.linear(t.name))!;
      type = l.weights?.kind === "codec" ? tensorType(l.weights.typeName)! : f16;
      encode = async () => {
        const o = (await reader.linear(t.name))!;
        return o.weights?.kind === "codec" ? o.weights.bytes : fromFloat32(o.kept!, f16);
      };
    } else if (BLOCK_VECTOR.test(t.name)) {
      type = f32;
      encode = async () => {
        const v = await blockVector(reader, t.name);
        return v ? bytesOf(v.slice()) : transcode(await t.read(), t.type, f32, t.shape);
      };
    } else {
      type = outputTensorType(t, "auto");
      encode = async () => transcode(await t.read(), t.type, type, t.shape);
    }
    tensors.push({ name: t.name, type, shape: t.shape, sourceBytes: t.byteLength, encode: () => encode() });
  }
  const fileType = codecName?.kind === "codec" ? FILE_TYPES[codecName.typeName] : undefined;
  return writeGgufOutput(fs, outPath, sourceGgufMetadata(run.source, fileType), tensors, { progress: options.progress, label: "write", shards: options.split });
}

export interface QuantizedHfOptions extends QuantizedLayoutOptions {
  readonly layout: QuantizedLayoutName;
  readonly progress?: Progress;
  readonly maxShardSize?: number;
  /** The model as opened (its directory supplies the tokenizer files of a Hugging Face source). */
  readonly original: ModelSource;
}

/**
 * Checks before any work that `layout` can store every block linear of the model quantized in `format`
 * (packing constraints on the dimensions, bits, group size), naming the first that it cannot.
 */
export function checkQuantizedHfLayout(model: ModelSource, format: WeightFormat, layout: QuantizedLayoutName, unfit: "error" | "fallback" = "error"): void {
  const view = ggufView(model);
  const h = runnableHParams(view);
  if (format.kind !== "integer") throw new BitsmithError(`${layout} stores integer groups; ggml types (${format.codec.type.name}) go to a .gguf file`, { field: "format" });
  const q = h.numHeads * h.headDim;
  const kv = h.numKvHeads * h.headDim;
  const shapes: [string, number, number][] = [
    ["self_attn.q_proj", q, h.hiddenSize],
    ["self_attn.k_proj", kv, h.hiddenSize],
    ["self_attn.v_proj", kv, h.hiddenSize],
    ["self_attn.o_proj", h.hiddenSize, q],
    ["mlp.gate_proj", h.intermediateSize, h.hiddenSize],
    ["mlp.up_proj", h.intermediateSize, h.hiddenSize],
    ["mlp.down_proj", h.hiddenSize, h.intermediateSize],
  ];
  const target = QUANTIZED_LAYOUTS[layout];
  const { scheme } = format;
  for (const [module, rows, cols] of shapes) {
    const groupSize = formatFits(format, cols) || unfit === "error" ? scheme.groupSize : -1;
    if (groupSize !== scheme.groupSize && target.singleScheme) {
      throw new BitsmithError(`${layout} stores one group size for the whole model, and group size ${scheme.groupSize} does not divide this layer's ${cols} inputs: choose one that divides every layer (or -1)`, {
        field: `model.layers.*.${module}`,
      });
    }
    const shape = { name: `model.layers.0.${module}`, outFeatures: rows, inFeatures: cols, bits: scheme.bits, groupSize, symmetric: scheme.symmetric };
    target.check(shape, { bits: scheme.bits, groupSize, symmetric: scheme.symmetric, actOrder: false }, { options: {}, config: {} });
  }
}

/** Row r of the HF-ordered matrix is row perm[r] of the GGUF-ordered one (identity unless Q/K). */
function rowOrder(rows: number, heads: number | undefined): Int32Array {
  const ids = Int32Array.from({ length: rows }, (_, i) => i);
  return heads === undefined ? ids : viewI32(permuteQkRows(bytesOf(ids), rows, heads, false).slice());
}

function permuteRows<T extends Uint8Array | Int32Array | Float32Array>(a: T, perm: Int32Array, ctor: { new (n: number): T }): T {
  const rows = perm.length;
  const width = a.length / rows;
  const out = new ctor(a.length);
  for (let r = 0; r < rows; r++) out.set(a.subarray(perm[r]! * width, (perm[r]! + 1) * width) as never, r * width);
  return out;
}

/** Writes the run as a Hugging Face directory in a quantized layout; returns the files written. */
export async function writeQuantizedHf(run: QuantizationRun, fs: FileSystemLike, dir: string, options: QuantizedHfOptions): Promise<string[]> {
  const src = run.source;
  const h = src.info.hparams!;
  const arch = src.info.architecture;
  if (!HF_CLASS[arch]) throw new BitsmithError(`cannot write architecture "${arch}" as a Hugging Face model`, { file: src.name });
  const reader = new BlockReader(run);
  const f16 = tensorType("F16")!;
  const f32 = tensorType("F32")!;
  const plain: TensorToWrite[] = [];
  const linears: QuantizedLinearSource[] = [];
  const unquantized = new Set(options.unquantizedModules ?? ["lm_head"]);
  for (const t of src.tensors) {
    if (h.tieWordEmbeddings && t.name === "output.weight") continue;
    const hfName = ggufToHfName(t.name);
    if (!hfName) throw new BitsmithError("tensor has no Hugging Face equivalent", { file: src.name, field: t.name });
    const heads = qkPermutationHeads(arch, t.name, h.numHeads, h.numKvHeads);
    const perm = rowOrder(t.shape[0] ?? 1, t.shape.length === 2 ? heads : undefined);
    const ordered = (bytes: Uint8Array) => (heads !== undefined ? permuteQkRows(bytes, t.shape[0]!, heads, false) : bytes);
    if (BLOCK_LINEAR.test(t.name)) {
      const l = (await reader.linear(t.name))!;
      const module = hfName.replace(/\.weight$/, "");
      if (!l.weights) {
        unquantized.add(module);
        plain.push({ name: hfName, type: f16, shape: t.shape, read: async () => ordered(fromFloat32((await reader.linear(t.name))!.kept!, f16)) });
        continue;
      }
      if (l.weights.kind !== "integer") throw new BitsmithError(`${options.layout} stores integer groups, not ggml blocks (${l.weights.typeName}): write a .gguf file`, { file: dir });
      const q = l.weights.linear;
      linears.push({
        name: module,
        outFeatures: q.outFeatures,
        inFeatures: q.inFeatures,
        bits: q.bits,
        groupSize: q.groupSize,
        symmetric: q.symmetric,
        actOrder: q.gIdx !== undefined,
        async load(): Promise<QuantizedLinear> {
          const o = (await reader.linear(t.name))!;
          const w = o.weights!;
          if (w.kind !== "integer") throw new BitsmithError("changed kind", { field: t.name });
          const x = w.linear;
          return {
            name: module,
            outFeatures: x.outFeatures,
            inFeatures: x.inFeatures,
            bits: x.bits,
            groupSize: x.groupSize,
            symmetric: x.symmetric,
            codes: permuteRows(x.codes, perm, Uint8Array),
            scales: permuteRows(x.scales, perm, Float32Array),
            zeros: x.zeros instanceof Int32Array ? permuteRows(x.zeros, perm, Int32Array) : x.zeros && permuteRows(x.zeros, perm, Uint8Array),
            gIdx: x.gIdx,
          };
        },
      });
      if (l.weights.outliers) {
        const count = l.weights.outliers.indices.length;
        const sideList = async () => {
          const o = (await reader.linear(t.name))!;
          const w = o.weights!;
          if (w.kind !== "integer" || !w.outliers) throw new BitsmithError("side list missing", { field: t.name });
          return hfOrderedOutliers(w.outliers.indices, w.outliers.values, perm, o.cols);
        };
        plain.push({ name: `${module}.outlier_indices`, type: tensorType("I32")!, shape: [count], read: async () => bytesOf((await sideList()).indices) });
        plain.push({ name: `${module}.outlier_values`, type: f16, shape: [count], read: async () => fromFloat32((await sideList()).values, f16) });
      }
      continue;
    }
    const type = BLOCK_VECTOR.test(t.name) ? f32 : outputTensorType(t, "auto");
    plain.push({
      name: hfName,
      type,
      shape: t.shape,
      async read() {
        const v = BLOCK_VECTOR.test(t.name) ? await blockVector(reader, t.name) : undefined;
        return v ? bytesOf(v.slice()) : transcode(ordered(await t.read()), t.type, type, t.shape);
      },
    });
  }
  const { original, progress, maxShardSize, ...layoutOptions } = options;
  const config = original.format === "hf" ? Object.fromEntries(original.metadata) : hfConfig(arch, h, src, "float16");
  // Scales are stored in the type the method rounded them to.
  const scaleType = run.format.kind === "integer" ? (run.format.scheme.scaleType ?? "F16") : "F16";
  return writeQuantizedHfModel(fs, dir, {
    ...layoutOptions,
    compressedTensors: { scaleType, ...layoutOptions.compressedTensors },
    unquantizedModules: [...unquantized],
    config,
    tensors: plain,
    linears,
    files: await tokenizerSideFiles(fs, original),
    maxShardSize,
    progress,
  });
}

/** A side list re-indexed to Hugging Face row order and sorted again. */
function hfOrderedOutliers(indices: Int32Array, values: Float32Array, perm: Int32Array, cols: number): { indices: Int32Array; values: Float32Array } {
  const inverse = new Int32Array(perm.length);
  perm.forEach((old, r) => (inverse[old] = r));
  const pairs = Array.from(indices, (i, k) => [inverse[Math.floor(i / cols)]! * cols + (i % cols), values[k]!] as const).sort((a, b) => a[0] - b[0]);
  return { indices: Int32Array.from(pairs, (p) => p[0]), values: Float32Array.from(pairs, (p) => p[1]) };
}
