/**
 * llama2.c checkpoints (the format of Karpathy's run.c and the tinyllamas models such as stories260K): a header of
 * seven int32 followed by float32 arrays. This module validates the header against the file size and lays the
 * arrays out as tensors named, shaped and ordered the way llama.cpp's convert-llama2c-to-ggml writes them.
 */
import { BitsmithError, tensorType } from "../../core/index.js";
import type { ByteSource, TensorRef, TensorTypeInfo } from "../../core/index.js";

export const LLAMA2C_HEADER_BYTES = 7 * 4;

const F32: TensorTypeInfo = tensorType("F32")!;

export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Always positive; the sign stored in the file is `sharedClassifier`. */
  vocabSize: number;
  seqLen: number;
  /** A positive stored vocab_size means the output classifier is the token embedding (no wcls array). */
  sharedClassifier: boolean;
}

const FIELD_NAMES = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"] as const;

/** The header's fields under their llama2.c names, vocab_size signed as stored: a ModelSource's metadata. */
export function llama2cHeaderFields(h: Llama2cHeader): Map<string, number> {
  const values = [h.dim, h.hiddenDim, h.nLayers, h.nHeads, h.nKvHeads, h.sharedClassifier ? h.vocabSize : -h.vocabSize, h.seqLen];
  return new Map(FIELD_NAMES.map((name, i) => [name, values[i]!]));
}

function describe(h: Llama2cHeader): string {
  const fields = [...llama2cHeaderFields(h)].map(([k, v]) => `${k} ${v}`).join(", ");
  return `${fields}; ${h.sharedClassifier ? "shared" : "separate"} classifier`;
}

/** Float32 element counts of the checkpoint's arrays, in file order. */
function arrayLengths(h: Llama2cHeader): Array<[name: string, elements: bigint]> {
  const [d, f, l, v, s] = [h.dim, h.hiddenDim, h.nLayers, h.vocabSize, h.seqLen].map(BigInt) as [bigint, bigint, bigint, bigint, bigint];
  const kv = (d * BigInt(h.nKvHeads)) / BigInt(h.nHeads);
  const headSize = d / BigInt(h.nHeads);
  const arrays: Array<[string, bigint]> = [
    ["token_embedding", v * d],
    ["rms_att", l * d],
    ["wq", l * d * d],
    ["wk", l * kv * d],
    ["wv", l * kv * d],
    ["wo", l * d * d],
    ["rms_ffn", l * d],
    ["w1", l * f * d],
    ["w2", l * d * f],
    ["w3", l * f * d],
    ["rms_final", d],
    // freq_cis_real and freq_cis_imag, [seq_len][head_size / 2] each; llama.cpp skips them.
    ["freq_cis", s * headSize],
  ];
  if (!h.sharedClassifier) arrays.push(["wcls", v * d]);
  return arrays;
}

function expectedFileSize(h: Llama2cHeader): bigint {
  return arrayLengths(h).reduce((sum, [, n]) => sum + n * 4n, BigInt(LLAMA2C_HEADER_BYTES));
}

/** Reads and validates the header: positive, consistent values and a file size that matches them exactly. */
export async function readLlama2cHeader(source: ByteSource): Promise<Llama2cHeader> {
  const file = source.name;
  if (source.size < LLAMA2C_HEADER_BYTES) {
    throw new BitsmithError(`file is ${source.size} bytes, smaller than the ${LLAMA2C_HEADER_BYTES}-byte llama2.c header`, { file, field: "header" });
  }
  const bytes = await source.read(0, LLAMA2C_HEADER_BYTES);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const raw = FIELD_NAMES.map((_, i) => view.getInt32(i * 4, true));
  for (const [i, field] of FIELD_NAMES.entries()) {
    const value = raw[i]!;
    if (field === "vocab_size" ? value === 0 : value <= 0) {
      throw new BitsmithError(`is ${value}; it must be ${field === "vocab_size" ? "non-zero" : "positive"}: not a llama2.c checkpoint, or a corrupt one`, { file, field });
    }
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, storedVocab, seqLen] = raw as [number, number, number, number, number, number, number];
  const h: Llama2cHeader = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(storedVocab), seqLen, sharedClassifier: storedVocab > 0 };

  if (dim % nHeads !== 0) throw new BitsmithError(`dim ${dim} is not a multiple of n_heads ${nHeads}`, { file, field: "n_heads" });
  if ((dim / nHeads) % 2 !== 0) throw new BitsmithError(`head size ${dim / nHeads} (dim / n_heads) is odd; rotary embeddings need pairs`, { file, field: "n_heads" });
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) {
    throw new BitsmithError(`n_kv_heads ${nKvHeads} must divide n_heads ${nHeads}`, { file, field: "n_kv_heads" });
  }

  const expected = expectedFileSize(h);
  if (expected !== BigInt(source.size)) {
    // A file whose size fits the other classifier layout has the sign of vocab_size wrong: say so.
    const flipped = { ...h, sharedClassifier: !h.sharedClassifier };
    const hint = expectedFileSize(flipped) === BigInt(source.size) ? ` (the size fits a ${flipped.sharedClassifier ? "shared" : "separate"} classifier: the sign of vocab_size is wrong)` : "";
    throw new BitsmithError(`file is ${source.size} bytes but the header (${describe(h)}) implies ${expected} bytes${hint}`, {
      file,
      field: hint ? "vocab_size" : "header",
    });
  }
  return h;
}

/** A float32 array of the checkpoint, read by byte range when asked. */
class Llama2cTensor implements TensorRef {
  readonly type = F32;
  readonly byteLength: number;
  constructor(
    private readonly source: ByteSource,
    readonly name: string,
    readonly shape: readonly number[],
    private readonly fileOffset: number,
  ) {
    this.byteLength = shape.reduce((a, b) => a * b, 4);
  }

  async read(offset = 0, length = this.byteLength - offset): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new BitsmithError(`read of ${length} bytes at offset ${offset} is outside the tensor (${this.byteLength} bytes)`, { file: this.source.name, field: this.name });
    }
    return this.source.read(this.fileOffset + offset, length);
  }
}

/**
 * The checkpoint's tensors under llama.cpp's GGUF names, in the order convert-llama2c-to-ggml writes them:
 * token_embd, output_norm, output, then per layer attn_q, attn_k, attn_v, attn_output, attn_norm, ffn_gate (w1),
 * ffn_down (w2), ffn_up (w3), ffn_norm. A shared classifier still yields an output.weight (a second view of the
 * embedding bytes), because llama.cpp writes a copy of the embedding there. Call only with a validated header.
 */
export function llama2cTensors(source: ByteSource, h: Llama2cHeader): TensorRef[] {
  const offsets = new Map<string, number>();
  let at = LLAMA2C_HEADER_BYTES;
  for (const [name, elements] of arrayLengths(h)) {
    offsets.set(name, at);
    at += Number(elements) * 4;
  }
  const { dim: d, hiddenDim: f, vocabSize: v } = h;
  const kv = (d * h.nKvHeads) / h.nHeads;
  const tensor = (name: string, shape: number[], array: string, index = 0) =>
    new Llama2cTensor(source, name, shape, offsets.get(array)! + index * shape.reduce((a, b) => a * b, 4));

  const tensors = [
    tensor("token_embd.weight", [v, d], "token_embedding"),
    tensor("output_norm.weight", [d], "rms_final"),
    tensor("output.weight", [v, d], h.sharedClassifier ? "token_embedding" : "wcls"),
  ];
  for (let l = 0; l < h.nLayers; l++) {
    tensors.push(
      tensor(`blk.${l}.attn_q.weight`, [d, d], "wq", l),
      tensor(`blk.${l}.attn_k.weight`, [kv, d], "wk", l),
      tensor(`blk.${l}.attn_v.weight`, [kv, d], "wv", l),
      tensor(`blk.${l}.attn_output.weight`, [d, d], "wo", l),
      tensor(`blk.${l}.attn_norm.weight`, [d], "rms_att", l),
      tensor(`blk.${l}.ffn_gate.weight`, [f, d], "w1", l),
      tensor(`blk.${l}.ffn_down.weight`, [d, f], "w2", l),
      tensor(`blk.${l}.ffn_up.weight`, [f, d], "w3", l),
      tensor(`blk.${l}.ffn_norm.weight`, [d], "rms_ffn", l),
    );
  }
  return tensors;
}
