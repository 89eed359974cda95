/**
 * Round-to-nearest: every group (or ggml block) quantized on its own, with no calibration data. The baseline
 * the calibration-based methods are measured against, and the final rounding step of AWQ (after its scaling
 * and clipping). With clip search (integer groups) each group's range is shrunk where that lowers its error.
 */
import { dequantizeLinear } from "../formats/quantized-hf/index.js";
import type { QuantizedLinear } from "../formats/quantized-hf/index.js";
import { groupParams, quantizeCode } from "./integer-scheme.js";
import { codecRound, formatGroupColumns } from "./weight-format.js";
import type { QuantizedWeights, WeightFormat } from "./weight-format.js";

export interface RoundedLayer {
  readonly weights: QuantizedWeights;
  /** The dequantized weights [rows × cols]. */
  readonly values: Float32Array;
}

/**
 * Rounds w [rows × cols] to the format. `importance` (one weight per input column, llama.cpp's imatrix) is
 * passed to ggml codecs that use it; integer groups ignore it.
 */
export function rtnQuantize(name: string, w: Float32Array, rows: number, cols: number, format: WeightFormat, importance?: Float32Array): RoundedLayer {
  const g = formatGroupColumns(format, cols, name);
  if (format.kind === "codec") {
    const { bytes, values } = codecRound(format.codec, w, rows, cols, importance);
    return { weights: { kind: "codec", typeName: format.codec.type.name, bytes }, values };
  }
  const { scheme } = format;
  const maxq = (1 << scheme.bits) - 1;
  const groups = cols / g;
  const codes = new Uint8Array(rows * cols);
  const scales = new Float32Array(rows * groups);
  const zeros = scheme.symmetric ? undefined : new Uint8Array(rows * groups);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < groups; k++) {
      const o = r * cols + k * g;
      const p = groupParams((i) => w[o + i]!, g, scheme);
      scales[r * groups + k] = p.scale;
      if (zeros) zeros[r * groups + k] = p.zero;
      for (let i = 0; i < g; i++) codes[o + i] = quantizeCode(w[o + i]!, p, maxq);
    }
  }
  const linear: QuantizedLinear = {
    name,
    outFeatures: rows,
    inFeatures: cols,
    bits: scheme.bits,
    groupSize: scheme.groupSize === -1 ? -1 : g,
    symmetric: scheme.symmetric,
    codes,
    scales,
    zeros,
  };
  return { weights: { kind: "integer", linear }, values: dequantizeLinear(linear) };
}
