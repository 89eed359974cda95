/**
 * The plain float types as codecs: F32 (a copy), F16 and BF16 (ggml's row converters, see numeric/half.ts).
 */
import { bf16ToF32Row, f16ToF32Row, f32ToBf16Row, f32ToF16Row } from "../numeric/half.js";
import { viewF32, viewU16 } from "../numeric/byte-views.js";
import { codecWasm } from "./codec-wasm.js";
import { defineBlockCodec } from "./define.js";
import { registerCodec } from "./registry.js";

/** Values the WebAssembly decoder converts per call: input and output (96 KB) stay in the L2 cache. */
const F16_CHUNK = 1 << 14;

/**
 * `n` little-endian fp16 values from `src` to float32 in `out` (ggml_fp16_to_fp32_row): in the codecs'
 * WebAssembly module (the kernels' SIMD decoder, several times faster than the table lookup) where it runs.
 */
export function f16BytesToF32(src: Uint8Array, out: Float32Array, n: number): Float32Array {
  const m = codecWasm();
  const decode = m?.kernels.decode_f16;
  const whole = n & ~7;
  if (m && decode) {
    for (let done = 0; done < whole; done += F16_CHUNK) {
      const count = Math.min(F16_CHUNK, whole - done);
      const outAt = 2 * count;
      m.u8(outAt + 4 * count).set(src.subarray(2 * done, 2 * (done + count)));
      decode(m.base, m.base + outAt, count / 8);
      out.set(m.f32(0).subarray(outAt / 4, outAt / 4 + count), done);
    }
    if (whole === n) return out;
    f16ToF32Row(viewU16(src.subarray(2 * whole, 2 * n)), out.subarray(whole, n));
    return out;
  }
  return f16ToF32Row(viewU16(src.subarray(0, 2 * n)), out, n);
}

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
    f16BytesToF32(src, out, n);
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
