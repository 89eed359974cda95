/**
 * Outlier-aware mixed precision (the SpQR / GWQ family): the most salient weights of a layer stay in fp16 in
 * a sparse side list, the rest is quantized (their group ranges computed without the outliers, which is
 * where most of the gain comes from). bitsmith's side list is a sorted list of flat indices (row · in + col,
 * int32) with fp16 values; in the dense codes an outlier's code is its group's zero point, so the layer is
 * dequantize(codes) with the side list's values written over those positions.
 *
 * Saliency of weight (r, c), from the layer's Hessian diagonal H_cc = 2·E[x_c²]:
 *   "hessian":    (w − RTN(w))² · H_cc  — the output error its rounding alone would cause (diagonal OBS);
 *   "activation": |w| · sqrt(E[x_c²])    — activation-weighted magnitude (as AWQ and Wanda measure importance).
 */
import { BitsmithError } from "../core/index.js";
import { f16ToF32, f32ToF16 } from "../numeric/half.js";
import type { QuantizedLinearShape } from "../formats/quantized-hf/index.js";
import { groupColumns, groupParams, quantizeCode } from "./integer-scheme.js";
import type { IntegerScheme } from "./integer-scheme.js";

export type SaliencyKind = "hessian" | "activation";

export interface OutlierOptions {
  /** Fraction of the layer's weights kept in fp16 (SpQR keeps about 1%). */
  readonly fraction: number;
  readonly saliency?: SaliencyKind;
}

export interface SparseOutliers {
  /** Flat indices row · cols + col, ascending. */
  readonly indices: Int32Array;
  /** fp16-exact values (what is stored). */
  readonly values: Float32Array;
}

/** x rounded to fp16, the side list's precision. */
export function fp16Value(x: number): number {
  return f16ToF32(f32ToF16(x));
}

/** Saliency of every weight of w [rows × cols] given the Hessian's diagonal. */
export function outlierSaliency(w: Float32Array, rows: number, cols: number, hessianDiag: ArrayLike<number>, scheme: IntegerScheme, kind: SaliencyKind): Float64Array {
  const s = new Float64Array(rows * cols);
  if (kind === "activation") {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) s[r * cols + c] = Math.abs(w[r * cols + c]!) * Math.sqrt(Math.max(0, hessianDiag[c]!) / 2);
    return s;
  }
  const g = groupColumns(scheme, cols);
  const maxq = (1 << scheme.bits) - 1;
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < cols; c0 += g) {
      const o = r * cols + c0;
      const p = groupParams((i) => w[o + i]!, g, { ...scheme, clipSearch: false });
      for (let i = 0; i < g; i++) {
        const x = w[o + i]!;
        const err = (quantizeCode(x, p, maxq) - p.zero) * p.scale - x;
        s[o + i] = err * err * Math.max(0, hessianDiag[c0 + i]!);
      }
    }
  }
  return s;
}

/**
 * A mask [rows × cols] (1 = outlier) of the round(fraction · rows · cols) most salient weights; ties go to
 * the lower index.
 */
export function selectOutliers(saliency: Float64Array, fraction: number): Uint8Array {
  if (!(fraction >= 0 && fraction < 1)) throw new BitsmithError(`outlier fraction ${fraction} must be in [0, 1)`, { field: "outlier fraction" });
  const n = saliency.length;
  const k = Math.round(fraction * n);
  const mask = new Uint8Array(n);
  if (k === 0) return mask;
  const threshold = Float64Array.from(saliency).sort()[n - k]!;
  let taken = 0;
  for (let i = 0; i < n && taken < k; i++) {
    if (saliency[i]! > threshold) {
      mask[i] = 1;
      taken++;
    }
  }
  for (let i = 0; i < n && taken < k; i++) {
    if (saliency[i] === threshold) {
      mask[i] = 1;
      taken++;
    }
  }
  return mask;
}

/** The side list of the masked positions of the final weights. */
export function collectOutliers(mask: Uint8Array, values: Float32Array): SparseOutliers {
  let count = 0;
  for (let i = 0; i < mask.length; i++) count += mask[i]!;
  const indices = new Int32Array(count);
  const kept = new Float32Array(count);
  let k = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      indices[k] = i;
      kept[k++] = values[i]!;
    }
  }
  return { indices, values: kept };
}

/**
 * Storage of a quantized linear in bits: codes, scales (16 bits), zero points (bits each, when asymmetric),
 * g_idx (32 bits per input column, with act-order), and the side list (16-bit value + 32-bit index each).
 */
export function storageBits(shape: QuantizedLinearShape, hasGIdx: boolean, outliers?: SparseOutliers): number {
  const g = shape.groupSize === -1 ? shape.inFeatures : shape.groupSize;
  const cells = shape.outFeatures * (shape.inFeatures / g);
  const codes = shape.outFeatures * shape.inFeatures * shape.bits;
  const params = cells * (16 + (shape.symmetric ? 0 : shape.bits));
  const gIdx = hasGIdx ? shape.inFeatures * 32 : 0;
  return codes + params + gIdx + (outliers ? outliers.indices.length * 48 : 0);
}
