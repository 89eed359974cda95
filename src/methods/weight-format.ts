/**
 * What a method rounds a linear layer's weights to, and what it hands to the writers: integer groups (the
 * GPTQ / AWQ / compressed-tensors layouts, as a QuantizedLinear), or a ggml codec (GGUF block bytes), or
 * nothing (the layer stays in floating point, e.g. when its rows do not fit the codec's blocks).
 */
import { BitsmithError } from "../core/index.js";
import type { Codec } from "../codecs/index.js";
import { requireCodec } from "../codecs/index.js";
import { dequantizeLinear } from "../formats/quantized-hf/index.js";
import type { QuantizedLinear } from "../formats/quantized-hf/index.js";
import { groupColumns } from "./integer-scheme.js";
import type { IntegerScheme } from "./integer-scheme.js";
import type { SparseOutliers } from "./outliers.js";

export type WeightFormat = { readonly kind: "integer"; readonly scheme: IntegerScheme } | { readonly kind: "codec"; readonly codec: Codec };

/** "gguf:Q4_K"-style names to a codec format. */
export function codecFormat(typeName: string): WeightFormat {
  return { kind: "codec", codec: requireCodec(typeName) };
}

/** Columns the format quantizes together (integer group, codec block) for rows of `cols` values; checks they divide. */
export function formatGroupColumns(format: WeightFormat, cols: number, field?: string): number {
  if (format.kind === "integer") return groupColumns(format.scheme, cols, field);
  const block = format.codec.type.blockSize;
  if (cols % block !== 0) {
    throw new BitsmithError(`row length ${cols} is not a multiple of the ${format.codec.type.name} block size ${block}`, { field: field ?? "format" });
  }
  return block;
}

/** Whether the format can quantize rows of `cols` values. */
export function formatFits(format: WeightFormat, cols: number): boolean {
  if (format.kind === "codec") return cols % format.codec.type.blockSize === 0;
  return format.scheme.groupSize === -1 || (format.scheme.groupSize > 0 && cols % format.scheme.groupSize === 0);
}

/** A quantized linear layer: its stored form and the float32 weights it dequantizes to. */
export type QuantizedWeights =
  | { readonly kind: "integer"; readonly linear: QuantizedLinear; readonly outliers?: SparseOutliers }
  | { readonly kind: "codec"; readonly typeName: string; readonly bytes: Uint8Array };

/** The float32 weights [rows × cols] a stored form dequantizes to (outliers included). */
export function dequantizeWeights(q: QuantizedWeights, rows: number, cols: number): Float32Array {
  if (q.kind === "codec") return requireCodec(q.typeName).dequantize(q.bytes, rows * cols);
  const values = dequantizeLinear(q.linear);
  if (q.outliers) {
    const { indices, values: kept } = q.outliers;
    for (let i = 0; i < indices.length; i++) values[indices[i]!] = kept[i]!;
  }
  return values;
}

/** Rounds a whole matrix with a codec: the bytes, and the values they decode to. */
export function codecRound(codec: Codec, w: Float32Array, rows: number, cols: number, importance?: Float32Array): { bytes: Uint8Array; values: Float32Array } {
  const bytes = codec.quantize(w, rows, cols, importance);
  return { bytes, values: codec.dequantize(bytes, rows * cols) };
}
