/**
 * Shared scaffolding for ggml block codecs: argument checks, output allocation and the row loop, so each codec
 * module only supplies "quantize one row" and "dequantize n blocks".
 */
import { BitsmithError, tensorType, type TensorTypeInfo } from "../core/index.js";
import type { Codec } from "./codec.js";

export interface BlockCodecParts {
  /** ggml type name, e.g. "Q4_0". */
  readonly name: string;
  readonly requiresImatrix?: boolean;
  /**
   * Quantizes the row `src[srcOffset .. srcOffset + rowLength)` into `dst` at `dstOffset`.
   * `imatrix` (when given) has one weight per column of the row. `srcBits` views the same memory as `src`
   * as int32 bit patterns (made once per call: creating a view per row costs more than quantizing it).
   */
  quantizeRow(src: Float32Array, srcOffset: number, rowLength: number, dst: Uint8Array, dstOffset: number, imatrix: Float32Array | undefined, srcBits: Int32Array): void;
  /** Decodes `nblocks` blocks of `src` into `out` from index 0. */
  dequantize(src: Uint8Array, nblocks: number, out: Float32Array): void;
}

export function typeInfo(name: string): TensorTypeInfo {
  const t = tensorType(name);
  if (!t) throw new BitsmithError(`unknown tensor type ${name}`);
  return t;
}

export function defineBlockCodec(parts: BlockCodecParts): Codec {
  const type = typeInfo(parts.name);
  const { blockSize, typeSize } = type;
  const requiresImatrix = parts.requiresImatrix ?? false;
  return {
    type,
    requiresImatrix,
    quantize(src, nrows, rowLength, imatrix) {
      const field = `${type.name} quantize`;
      if (!Number.isSafeInteger(nrows) || nrows < 0 || !Number.isSafeInteger(rowLength) || rowLength < 0) {
        throw new BitsmithError(`bad shape ${nrows} x ${rowLength}`, { field });
      }
      if (rowLength % blockSize !== 0) throw new BitsmithError(`row length ${rowLength} is not a multiple of the block size ${blockSize}`, { field });
      if (src.length < nrows * rowLength) throw new BitsmithError(`source holds ${src.length} values, ${nrows} x ${rowLength} needed`, { field });
      if (imatrix && imatrix.length !== rowLength) throw new BitsmithError(`importance matrix has ${imatrix.length} weights for rows of ${rowLength}`, { field });
      if (requiresImatrix && !imatrix) throw new BitsmithError(`${type.name} needs an importance matrix`, { field });
      const rowBytes = (rowLength / blockSize) * typeSize;
      const dst = new Uint8Array(nrows * rowBytes);
      const bits = new Int32Array(src.buffer, src.byteOffset, src.length);
      for (let r = 0; r < nrows; r++) parts.quantizeRow(src, r * rowLength, rowLength, dst, r * rowBytes, imatrix, bits);
      return dst;
    },
    dequantize(src, count, out) {
      const field = `${type.name} dequantize`;
      if (!Number.isSafeInteger(count) || count < 0 || count % blockSize !== 0) {
        throw new BitsmithError(`${count} values is not a whole number of ${blockSize}-value blocks`, { field });
      }
      const nblocks = count / blockSize;
      if (src.length < nblocks * typeSize) throw new BitsmithError(`${src.length} bytes hold fewer than ${nblocks} blocks of ${typeSize} bytes`, { field });
      const dst = out ?? new Float32Array(count);
      if (dst.length < count) throw new BitsmithError(`output holds ${dst.length} values, ${count} needed`, { field });
      parts.dequantize(src, nblocks, dst);
      return dst;
    },
  };
}
