/**
 * `llama-quantize` as a library call: any ModelSource (GGUF, a Hugging Face directory seen through the GGUF
 * view, llama2.c) to a quantized GGUF, streamed one tensor at a time. The plan (which type each tensor
 * becomes, and why) is made first and checked completely, so every refusal happens before a byte is written;
 * then the tensors are read, converted by a RowQuantizer (one thread, or a worker pool) and written.
 */
import { BitsmithError, silentProgress, tensorByteSize, utf8Encoder } from "../core/index.js";
import type { FileSystemLike, ModelSource, Progress, TensorRef, TensorTypeInfo } from "../core/index.js";
import { gguf, getNumber } from "../formats/gguf/index.js";
import type { GgufModel } from "../formats/gguf/index.js";
import { importanceWeights } from "../formats/imatrix/index.js";
import type { Imatrix } from "../formats/imatrix/index.js";
import { ggufTensors } from "../model/gguf-view.js";
import { sourceGgufMetadata, writeGgufOutput } from "../convert/gguf-output.js";
import type { GgufKv, GgufOutputTensor } from "../convert/gguf-output.js";
import { outputTensorType } from "../convert/outtype.js";
import { guessFileType, parseQuantizeFileType } from "./ftype.js";
import type { QuantizeFileType } from "./ftype.js";
import { parseGgmlType, parseTensorTypeOverride, planQuantization } from "./recipe.js";
import type { PlannedTensor, RecipeModel, TensorTypeOverride } from "./recipe.js";
import { SingleThreadRowQuantizer, checkFinite, rowBytes, rowsPerBlock } from "./row-quantizer.js";
import type { RowQuantizer } from "./row-quantizer.js";
import { compareWeightNames } from "./tensor-order.js";
import { toFloat32 } from "../codecs/convert.js";

export interface QuantizeOptions {
  /** llama-quantize's type: "Q4_K_M", "q8_0", "IQ2_XS", "COPY", or its numeric id. */
  readonly type: string | QuantizeFileType;
  /** Importance matrix (readImatrix); its `source` is recorded as quantize.imatrix.file. */
  readonly imatrix?: Imatrix;
  /** `--tensor-type NAME=TYPE` overrides, in order. */
  readonly tensorTypes?: readonly (string | TensorTypeOverride)[];
  readonly pure?: boolean;
  readonly outputTensorType?: string | TensorTypeInfo;
  readonly tokenEmbeddingType?: string | TensorTypeInfo;
  readonly leaveOutputTensor?: boolean;
  /** Allow converting tensors that are already quantized (quality suffers). */
  readonly allowRequantize?: boolean;
  /** Write one output file per input file (split GGUF input), named `<out>-0000k-of-0000n.gguf`. */
  readonly keepSplit?: boolean;
}

export interface QuantizeModelOptions extends QuantizeOptions {
  /** Converts the rows; default: in this thread. Not closed here. */
  readonly rowQuantizer?: RowQuantizer;
  readonly progress?: Progress;
}

export interface QuantizePlanEntry extends PlannedTensor {
  /** Output file (0-based; always 0 unless keepSplit). */
  readonly shard: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Whether importance data is applied to this tensor. */
  readonly usesImatrix: boolean;
}

export interface QuantizePlan {
  readonly fileType: QuantizeFileType;
  /** general.file_type of the output. */
  readonly ftype: number;
  /** In output order. */
  readonly tensors: readonly QuantizePlanEntry[];
  /** Things llama-quantize warns about (fallbacks, tensors without importance data). */
  readonly warnings: readonly string[];
  /** Reasons the plan cannot run (only with dryRun; otherwise the first one is thrown). */
  readonly problems: readonly string[];
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface QuantizeResult {
  readonly files: string[];
  readonly plan: QuantizePlan;
}

/** One input tensor as llama-quantize would see it. */
interface InputTensor {
  readonly ref: TensorRef;
  /** Its type in the GGUF llama-quantize would read (for HF and llama2.c sources: what convert writes). */
  readonly type: TensorTypeInfo;
  readonly shard: number;
  readonly offset: number;
}

function inputTensors(source: ModelSource): InputTensor[] {
  const refs = ggufTensors(source);
  if (source.format !== "gguf") return refs.map((ref, i) => ({ ref, type: outputTensorType(ref, "auto"), shard: 0, offset: i }));
  const shardOf = new Map((source as GgufModel).shards.map((s, i) => [s.source.name, i]));
  return (source as GgufModel).tensors.map((ref) => ({ ref, type: ref.type, shard: shardOf.get(ref.file) ?? 0, offset: ref.offset }));
}

/** What the recipe needs from the model: architecture, layers, heads and experts. */
export function recipeModel(source: ModelSource): RecipeModel {
  const arch = source.info.architecture;
  const h = source.info.hparams;
  const meta = source.metadata;
  const experts =
    source.format === "gguf"
      ? getNumber(meta as GgufModel["metadata"], `${arch}.expert_count`, source.name)
      : typeof meta.get("num_local_experts") === "number"
        ? (meta.get("num_local_experts") as number)
        : undefined;
  return {
    architecture: arch,
    numLayers: h?.numLayers ?? 0,
    numHeads: h?.numHeads ?? 0,
    numKvHeads: h?.numKvHeads ?? 0,
    numExperts: experts ?? 0,
  };
}

const typeOption = (v: string | TensorTypeInfo | undefined, flag: string) => (typeof v === "string" ? parseGgmlType(v, flag) : v);

/**
 * The quantization plan: every tensor's output type and why, sizes, warnings. With `dryRun`, conditions under
 * which llama-quantize would refuse to run (missing or mismatched importance data, requantization) are listed
 * in `problems`; otherwise the first is thrown, naming the tensor. Types without a fallback for a row length
 * throw either way, as in llama-quantize.
 */
export function planModelQuantization(source: ModelSource, options: QuantizeOptions & { readonly dryRun?: boolean }): QuantizePlan {
  const fileType = typeof options.type === "string" ? parseQuantizeFileType(options.type) : options.type;
  const imatrix = options.imatrix;
  const inputs = inputTensors(source);
  const ordered = options.keepSplit
    ? [...inputs].sort((a, b) => a.shard - b.shard || a.offset - b.offset)
    : [...inputs].sort((a, b) => compareWeightNames(a.ref.name, b.ref.name));
  const planned = planQuantization(
    ordered.map((t) => ({ name: t.ref.name, type: t.type, shape: t.ref.shape })),
    recipeModel(source),
    {
      fileType,
      pure: options.pure,
      leaveOutputTensor: options.leaveOutputTensor,
      outputTensorType: typeOption(options.outputTensorType, "--output-tensor-type"),
      tokenEmbeddingType: typeOption(options.tokenEmbeddingType, "--token-embedding-type"),
      tensorTypes: options.tensorTypes?.map((o) => (typeof o === "string" ? parseTensorTypeOverride(o) : o)),
      hasImatrix: imatrix !== undefined,
    },
  );

  const warnings: string[] = [];
  const problems: BitsmithError[] = [];
  let imatrixMatches = 0;
  const tensors = planned.map((p, i): QuantizePlanEntry => {
    const input = ordered[i]!;
    const field = `tensor "${p.name}"`;
    const converted = p.from !== p.to;
    let usesImatrix = false;
    if (p.wanted) warnings.push(`${p.name}: ${p.reason.slice(p.reason.lastIndexOf("fallback:"))}`);
    if (converted && input.ref.type.quantized && !options.allowRequantize) {
      problems.push(new BitsmithError(`is already quantized (${input.ref.type.name}); requantizing to ${p.to.name} loses quality: pass --allow-requantize to do it anyway`, { field }));
    }
    if (converted && imatrix) {
      const entry = imatrix.entries.get(p.name);
      const rowLength = p.shape.at(-1) ?? 1;
      const matrices = p.shape.length >= 3 ? p.shape[p.shape.length - 3]! : 1;
      if (!entry) {
        warnings.push(`${p.name}: no importance data in ${imatrix.source}`);
        if (p.requiresImatrix) problems.push(new BitsmithError(`${p.to.name} needs importance data, and ${imatrix.source} has none for this tensor`, { field }));
      } else {
        imatrixMatches++;
        if (entry.sums.length === rowLength * matrices) usesImatrix = true;
        else if (p.name === "token_embd.weight" || p.name === "per_layer_token_embd.weight") warnings.push(`${p.name}: importance data of the wrong size ignored`);
        else {
          problems.push(
            new BitsmithError(`${imatrix.source} has ${entry.sums.length} importance values for this tensor, which needs ${rowLength * matrices}: the imatrix was made for another model`, {
              field,
            }),
          );
        }
      }
    } else if (converted && p.requiresImatrix) {
      problems.push(new BitsmithError(`${p.to.name} in ${fileType.name} needs an importance matrix: pass --imatrix`, { field }));
    }
    return {
      ...p,
      shard: options.keepSplit ? input.shard : 0,
      bytesIn: input.ref.byteLength,
      bytesOut: tensorByteSize(p.to, p.shape)!,
      usesImatrix,
    };
  });
  const fallbacks = tensors.filter((t) => t.wanted).length;
  if (fallbacks > 0) warnings.push(`${fallbacks} of ${tensors.length} tensors required fallback quantization`);
  if (imatrix && imatrixMatches === 0 && tensors.some((t) => t.from !== t.to)) {
    problems.push(new BitsmithError(`none of its ${imatrix.entries.size} entries names a tensor of this model: it was made for another model`, { file: imatrix.source }));
  }
  if (problems.length > 0 && !options.dryRun) throw problems[0];

  const ftype = fileType.onlyCopy ? inputFileType(source, ordered) : fileType.ftype;
  return {
    fileType,
    ftype,
    tensors,
    warnings,
    problems: problems.map((p) => p.message),
    bytesIn: tensors.reduce((a, t) => a + t.bytesIn, 0),
    bytesOut: tensors.reduce((a, t) => a + t.bytesOut, 0),
  };
}

/** The input's general.file_type, or the type llama.cpp's loader infers from the tensors (what COPY keeps). */
function inputFileType(source: ModelSource, ordered: readonly InputTensor[]): number {
  const stored = source.format === "gguf" ? getNumber(source.metadata as GgufModel["metadata"], "general.file_type", source.name) : undefined;
  return stored ?? guessFileType([...ordered].sort((a, b) => compareWeightNames(a.ref.name, b.ref.name)).map((t) => t.type));
}

/** llama.cpp's GGML_QNT_VERSION, written as general.quantization_version. */
const QUANTIZATION_VERSION = 2;
/** llama-quantize copies string values into 128-byte fields. */
const MAX_STRING_BYTES = 127;

function truncateUtf8(s: string, maxBytes: number): string {
  if (utf8Encoder.encode(s).length <= maxBytes) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = utf8Encoder.encode(ch).length;
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/**
 * The output's key/values as llama-quantize writes them: the input's (split keys dropped), then
 * general.quantization_version and general.file_type moved to the end (gguf_set_val re-appends a key), then
 * the quantize.imatrix.* keys when an imatrix was used.
 */
export function quantizedMetadata(source: ModelSource, plan: QuantizePlan, imatrix?: Imatrix): GgufKv[] {
  const kv = sourceGgufMetadata(source).filter(([k]) => k !== "general.quantization_version" && k !== "general.file_type");
  kv.push(["general.quantization_version", gguf.u32(QUANTIZATION_VERSION)], ["general.file_type", gguf.u32(plan.ftype)]);
  if (imatrix) {
    kv.push(["quantize.imatrix.file", gguf.str(truncateUtf8(imatrix.source, MAX_STRING_BYTES))]);
    if (imatrix.datasets.length > 0) kv.push(["quantize.imatrix.dataset", gguf.str(truncateUtf8(imatrix.datasets[0]!, MAX_STRING_BYTES))]);
    kv.push(["quantize.imatrix.entries_count", gguf.u32(imatrix.entries.size)]);
    if (imatrix.chunkCount > 0) kv.push(["quantize.imatrix.chunks_count", gguf.u32(imatrix.chunkCount)]);
  }
  return kv;
}

/** Checks a tensor that is copied as it is for non-finite values (llama.cpp validates every tensor it reads). */
function validateCopied(bytes: Uint8Array, type: TensorTypeInfo, name: string, rowLength: number): void {
  if (!type.float && !type.quantized) return;
  const rows = bytes.length / rowBytes(type.name, rowLength);
  const step = rowsPerBlock(rowLength);
  const inRow = rowBytes(type.name, rowLength);
  for (let r = 0; r < rows; r += step) {
    const n = Math.min(step, rows - r);
    checkFinite(toFloat32(bytes.subarray(r * inRow, (r + n) * inRow), type, n * rowLength), name, rowLength, r);
  }
}

/**
 * Quantizes `source` into `outPath` (or its keep-split shards) and returns the files and the plan. Output is
 * atomic: on any failure no file is left.
 */
export async function quantizeModel(source: ModelSource, fs: FileSystemLike, outPath: string, options: QuantizeModelOptions): Promise<QuantizeResult> {
  const plan = planModelQuantization(source, options);
  const rowQuantizer = options.rowQuantizer ?? new SingleThreadRowQuantizer();
  const refs = new Map(ggufTensors(source).map((r) => [r.name, r]));

  // Reading runs one tensor ahead of converting, so the disk and the converter overlap.
  const reads = new Map<number, Promise<Uint8Array>>();
  const readAhead = (i: number): Promise<Uint8Array> => {
    let p = reads.get(i);
    if (!p) {
      p = refs.get(plan.tensors[i]!.name)!.read();
      p.catch(() => undefined);
      reads.set(i, p);
    }
    return p;
  };

  const tensors: GgufOutputTensor[] = plan.tensors.map((t, i) => {
    const ref = refs.get(t.name)!;
    const rowLength = t.shape.at(-1) ?? 1;
    return {
      name: t.name,
      type: t.to,
      shape: t.shape,
      sourceBytes: t.bytesIn,
      shard: t.shard,
      encode: async (advance) => {
        const pending = readAhead(i);
        reads.delete(i);
        if (i + 1 < plan.tensors.length) readAhead(i + 1);
        const bytes = await pending;
        if (ref.type === t.to) {
          validateCopied(bytes, ref.type, t.name, rowLength);
          return bytes;
        }
        const inRow = rowBytes(ref.type.name, rowLength);
        const rows = bytes.length / inRow;
        return rowQuantizer.convert(
          {
            tensor: t.name,
            from: ref.type.name,
            to: t.to.name,
            rowLength,
            firstRow: 0,
            rows,
            bytes,
            imatrix: t.usesImatrix ? importanceWeights(options.imatrix!, t.name) : undefined,
            rowsPerMatrix: t.shape.length >= 2 ? t.shape[t.shape.length - 2]! : 1,
          },
          (n) => advance(n * inRow),
        );
      },
    };
  });

  const files = await writeGgufOutput(fs, outPath, quantizedMetadata(source, plan, options.imatrix), tensors, {
    progress: options.progress ?? silentProgress,
    label: "quantize",
    shards: options.keepSplit ? "per-tensor" : undefined,
  });
  return { files, plan };
}
