/**
 * What the layouts share at the byte edge: float tensors stored exactly (a scale that the storage type would
 * round is refused, so the written model dequantizes to exactly what dequantizeLinear says), int32 words as bytes,
 * and typed lookups of a linear's tensors in a ModelSource.
 */
import { BitsmithError, findTensor, tensorType } from "../../core/index.js";
import type { ModelSource, TensorRef, TensorTypeInfo } from "../../core/index.js";
import { bf16ToF32, bf16ToF32Row, f16ToF32, f16ToF32Row, f32ToBf16, f32ToF16 } from "../../numeric/half.js";
import { bytesOf, viewF32, viewU16, viewU32 } from "../../numeric/byte-views.js";

/** Float types a layout stores scales in. */
export type ScaleType = "F16" | "BF16" | "F32";

export const SCALE_TYPES: readonly ScaleType[] = ["F16", "BF16", "F32"];

export function typeInfo(name: string): TensorTypeInfo {
  return tensorType(name)!;
}

/** Rounds a float32 value to `type` (round to nearest even) and back: what storing it keeps. */
export function roundToScaleType(x: number, type: ScaleType): number {
  if (type === "F16") return f16ToF32(f32ToF16(x));
  if (type === "BF16") return bf16ToF32(f32ToBf16(x));
  return Math.fround(x);
}

/**
 * Encodes a [rows][cols] float32 matrix as `type`, transposed to [cols][rows] when asked. Refuses values the
 * type cannot hold exactly (quantizers choose codes against the stored scale, as AutoGPTQ's pack does with
 * `scales.half()`; use roundToScaleType first), and non-finite values.
 */
export function encodeScales(values: Float32Array, rows: number, cols: number, type: ScaleType, transpose: boolean, field: string): Uint8Array {
  const store = type === "F32" ? new Float32Array(values.length) : new Uint16Array(values.length);
  const encode = type === "F16" ? f32ToF16 : type === "BF16" ? f32ToBf16 : (x: number) => x;
  const decode = type === "F16" ? f16ToF32 : type === "BF16" ? bf16ToF32 : (x: number) => x;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = values[r * cols + c]!;
      const stored = encode(x);
      if (!Number.isFinite(x) || decode(stored) !== x) {
        throw new BitsmithError(`scale ${x} at [${r}, ${c}] is not exactly representable as ${type}; round scales with roundToScaleType first`, { field });
      }
      store[transpose ? c * rows + r : r * cols + c] = stored;
    }
  }
  return bytesOf(store);
}

/** Decodes an F16, BF16 or F32 tensor to float32, transposing [rows][cols] to [cols][rows] when asked. */
export function decodeScales(bytes: Uint8Array, type: TensorTypeInfo, rows: number, cols: number, transpose: boolean): Float32Array {
  let flat: Float32Array;
  // F32 is viewed in place: copied below so the result never aliases the source's buffer.
  if (type.name === "F32") flat = viewF32(bytes);
  else if (type.name === "F16") flat = f16ToF32Row(viewU16(bytes), new Float32Array(rows * cols));
  else flat = bf16ToF32Row(viewU16(bytes), new Float32Array(rows * cols));
  if (!transpose) return type.name === "F32" ? flat.slice() : flat;
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = flat[r * cols + c]!;
  return out;
}

export function int32Bytes(words: Uint32Array | Int32Array): Uint8Array {
  return bytesOf(words);
}

/** A tensor of one linear, read from a model, with its type and rank checked; its bytes as 32-bit words. */
export interface LinearTensorReader {
  /** The tensor `<module>.<suffix>`, or undefined when the model lacks it. */
  find(suffix: string): TensorRef | undefined;
  /** The tensor, which must exist, be 2-D (or of `rank`) and of one of `types`. */
  require(suffix: string, types: readonly string[], rank?: number): TensorRef;
  /** Throws unless `t` has exactly `shape`. */
  expectShape(t: TensorRef, shape: readonly number[]): void;
  words(t: TensorRef): Promise<Uint32Array>;
}

export function linearTensorReader(model: ModelSource, module: string): LinearTensorReader {
  const fail = (name: string, why: string) => new BitsmithError(why, { file: model.name, field: name });
  return {
    find: (suffix) => findTensor(model, `${module}.${suffix}`),
    require(suffix, types, rank = 2) {
      const name = `${module}.${suffix}`;
      const t = findTensor(model, name);
      if (!t) throw fail(name, "tensor is missing");
      if (!types.includes(t.type.name)) throw fail(name, `dtype is ${t.type.name}; expected ${types.join(" or ")}`);
      if (t.shape.length !== rank) throw fail(name, `shape [${t.shape.join(", ")}] is not ${rank}-D`);
      return t;
    },
    expectShape(t, shape) {
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw fail(t.name, `shape is [${t.shape.join(", ")}]; expected [${shape.join(", ")}]`);
      }
    },
    async words(t) {
      return viewU32(await t.read());
    },
  };
}
