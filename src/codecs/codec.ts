/**
 * A codec turns rows of float32 values into a tensor type's bytes and back. For ggml types the bytes are
 * exactly what llama.cpp's `ggml_quantize_chunk` writes; dequantization is exactly ggml's `to_float`.
 */
import type { TensorTypeInfo } from "../core/index.js";

export interface Codec {
  readonly type: TensorTypeInfo;
  /** llama.cpp refuses to quantize these types without an importance matrix. */
  readonly requiresImatrix: boolean;
  /**
   * Encodes `nrows` rows of `rowLength` values (row-major in `src`). `imatrix`, when given, holds one
   * importance weight per column (length `rowLength`), as llama-quantize passes it. Returns
   * nrows * rowLength / blockSize * typeSize bytes.
   */
  quantize(src: Float32Array, nrows: number, rowLength: number, imatrix?: Float32Array): Uint8Array;
  /** Decodes `count` values (a whole number of blocks) from `src` into `out` (allocated when absent). */
  dequantize(src: Uint8Array, count: number, out?: Float32Array): Float32Array;
}
