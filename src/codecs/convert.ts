/**
 * "Dequantize anything": raw tensor bytes of any type to float32, and float32 back to the plain float types.
 * Plain types convert element by element; block types go through their registered codec.
 */
import { BitsmithError, type TensorTypeInfo } from "../core/index.js";
import { e4m3ToF32Row, e5m2ToF32Row } from "../numeric/fp8.js";
import { viewF32, viewF64, viewI16, viewI32, viewI64, viewU16, viewU32, viewU64 } from "../numeric/byte-views.js";
import { bf16ToF32Row } from "../numeric/half.js";
import { f16BytesToF32 } from "./float.js";
import { requireCodec } from "./index.js";

function copyInto(out: Float32Array, values: ArrayLike<number>, count: number): Float32Array {
  for (let i = 0; i < count; i++) out[i] = values[i]!;
  return out;
}

/**
 * Decodes `count` values of `type` from little-endian `bytes`. Integers become the nearest float32
 * (64-bit integers via the nearest float64 first); BOOL gives 0/1.
 */
export function toFloat32(bytes: Uint8Array, type: TensorTypeInfo, count: number, out?: Float32Array): Float32Array {
  if (!Number.isSafeInteger(count) || count < 0 || count % type.blockSize !== 0) {
    throw new BitsmithError(`${count} values is not a whole number of ${type.name} blocks (${type.blockSize})`);
  }
  const need = (count / type.blockSize) * type.typeSize;
  if (bytes.length < need) throw new BitsmithError(`${type.name}: ${count} values need ${need} bytes, got ${bytes.length}`);
  const dst = out ?? new Float32Array(count);
  if (dst.length < count) throw new BitsmithError(`output holds ${dst.length} values, ${count} needed`);
  if (type.quantized) return requireCodec(type.name).dequantize(bytes, count, dst);
  const b = bytes.subarray(0, need);
  switch (type.name) {
    case "F32":
      dst.set(viewF32(b));
      return dst;
    case "F16":
      return f16BytesToF32(b, dst, count);
    case "BF16":
      return bf16ToF32Row(viewU16(b), dst, count);
    case "F64":
      return copyInto(dst, viewF64(b), count);
    case "F8_E4M3":
      return e4m3ToF32Row(b, dst, count);
    case "F8_E5M2":
      return e5m2ToF32Row(b, dst, count);
    case "I8":
      return copyInto(dst, new Int8Array(b.buffer, b.byteOffset, count), count);
    case "U8":
    case "BOOL":
      return copyInto(dst, b, count);
    case "I16":
      return copyInto(dst, viewI16(b), count);
    case "U16":
      return copyInto(dst, viewU16(b), count);
    case "I32":
      return copyInto(dst, viewI32(b), count);
    case "U32":
      return copyInto(dst, viewU32(b), count);
    case "I64": {
      const v = viewI64(b);
      for (let i = 0; i < count; i++) dst[i] = Number(v[i]!);
      return dst;
    }
    case "U64": {
      const v = viewU64(b);
      for (let i = 0; i < count; i++) dst[i] = Number(v[i]!);
      return dst;
    }
    default:
      throw new BitsmithError(`cannot convert type ${type.name} to float32`);
  }
}

/** Encodes float32 values as F32, F16 or BF16 (ggml's rounding), or any type that has a codec (as one row). */
export function fromFloat32(values: Float32Array, type: TensorTypeInfo): Uint8Array {
  return requireCodec(type.name).quantize(values, 1, values.length);
}
