/**
 * The plain float types as codecs: F32 (a copy), F16 and BF16 (ggml's row converters, see numeric/half.ts).
 */
import { bf16ToF32Row, f16ToF32Row, f32ToBf16Row, f32ToF16Row } from "../numeric/half.js";
import { viewF32, viewU16 } from "../numeric/byte-views.js";
import { defineBlockCodec } from "./define.js";
import { registerCodec } from "./registry.js";

export const f32Codec = defineBlockCodec({
  name: "F32",
  quantizeRow(src, so, n, dst, dor) {
    new Float32Array(dst.buffer, dst.byteOffset + dor, n).set(src.subarray(so, so + n));
  },
  dequantize(src, n, out) {
    out.set(viewF32(src.subarray(0, 4 * n)));
  },
});

export const f16Codec = defineBlockCodec({
  name: "F16",
  quantizeRow(src, so, n, dst, dor) {
    f32ToF16Row(src.subarray(so, so + n), new Uint16Array(dst.buffer, dst.byteOffset + dor, n));
  },
  dequantize(src, n, out) {
    f16ToF32Row(viewU16(src.subarray(0, 2 * n)), out, n);
  },
});

export const bf16Codec = defineBlockCodec({
  name: "BF16",
  quantizeRow(src, so, n, dst, dor) {
    f32ToBf16Row(src.subarray(so, so + n), new Uint16Array(dst.buffer, dst.byteOffset + dor, n));
  },
  dequantize(src, n, out) {
    bf16ToF32Row(viewU16(src.subarray(0, 2 * n)), out, n);
  },
});

registerCodec(f32Codec);
registerCodec(f16Codec);
registerCodec(bf16Codec);
