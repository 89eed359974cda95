/**
 * Re-encodes one tensor's bytes into another type: raw copy when the type is unchanged, the exact float
 * conversions for F32/F16/BF16, and the codec registry for block types (ggml's quantizers).
 */
import type { TensorTypeInfo } from "../core/index.js";
import { requireCodec } from "../codecs/index.js";
import { fromFloat32, toFloat32 } from "../codecs/convert.js";

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function transcode(bytes: Uint8Array, from: TensorTypeInfo, to: TensorTypeInfo, shape: readonly number[]): Uint8Array {
  if (from === to) return bytes;
  const count = elementCount(shape);
  const values = toFloat32(bytes, from, count);
  if (!to.quantized) return fromFloat32(values, to);
  const rowLength = shape.at(-1) ?? 1;
  return requireCodec(to.name).quantize(values, count / rowLength, rowLength);
}
