/**
 * Causal grouped-query attention of one sequence's new tokens over its cached keys and values: for each query
 * head h (sharing K/V head h / (numHeads / kvHeads)), softmax(q·Kᵀ / sqrt(headDim)) · V, where token i of the
 * batch (position past + i) sees positions 0..past + i. Queries are processed in blocks of rows so the
 * masked (future) part of the score matrix is mostly never computed.
 */
import type { Kernels } from "../kernels/index.js";
import type { KvCache } from "./kv-cache.js";

const QUERY_BLOCK = 16;

export interface AttentionShape {
  numHeads: number;
  headDim: number;
  /** The kernels for Q·Kᵀ and P·V (float32 sums, as llama.cpp's). */
  kernels: Kernels;
  /**
   * Round queries and attention probabilities to fp16 before their products with an fp16 KV cache, as
   * llama.cpp's matmuls against f16 K/V do (flash attention off).
   */
  roundToF16?: (x: Float32Array, out: Float32Array, count: number) => void;
}

/**
 * Reads queries from rows row0..row0+n-1 of q (row stride `stride` = numHeads * headDim) and writes the
 * attention output into the same rows of `out`. The cache must already hold this layer's K and V for the n
 * tokens at positions past..past+n-1.
 */
export function causalAttention(
  shape: AttentionShape,
  q: Float32Array,
  out: Float32Array,
  row0: number,
  n: number,
  stride: number,
  cache: KvCache,
  layer: number,
  past: number,
): void {
  const { numHeads, headDim, kernels } = shape;
  const group = numHeads / cache.kvHeads;
  const cap = cache.capacity;
  const keys = cache.layerKeys(layer);
  const valuesT = cache.layerValuesT(layer);
  const scale = 1 / Math.sqrt(headDim);
  const scores = kernels.allocate(Math.min(QUERY_BLOCK, n) * (past + n));
  const round = shape.roundToF16;
  if (round) round(q.subarray(row0 * stride, (row0 + n) * stride), q.subarray(row0 * stride), n * stride);
  for (let h = 0; h < numHeads; h++) {
    const g = Math.floor(h / group);
    for (let i0 = 0; i0 < n; i0 += QUERY_BLOCK) {
      const rows = Math.min(QUERY_BLOCK, n - i0);
      const cols = past + i0 + rows;
      const qOff = (row0 + i0) * stride + h * headDim;
      kernels.gemmNT(rows, cols, headDim, q, qOff, stride, keys, g * cap * headDim, headDim, scores, 0, cols);
      kernels.softmaxCausal(scores, 0, rows, cols, scale, past + i0);
      if (round) round(scores, scores, rows * cols);
      kernels.gemmNT(rows, headDim, cols, scores, 0, cols, valuesT, g * headDim * cap, cap, out, qOff, stride);
    }
  }
  kernels.release(scores);
}
