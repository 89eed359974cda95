import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";
import { bf16ToF32, f16ToF32, f32Bits, f32ToBf16, f32ToF16, f32FromBits } from "../../src/numeric/half.js";
import { e4m3ToF32, e5m2ToF32, f32ToE4m3, f32ToE5m2 } from "../../src/numeric/fp8.js";
import { toFloat32, fromFloat32 } from "../../src/codecs/convert.js";
import { tensorType } from "../../src/core/index.js";
import { viewF32 } from "../../src/numeric/byte-views.js";

test("F16 and BF16 match ggml's row converters on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(failingEntries(["F16", "BF16"]), []);
});

test("fp16: every finite half round-trips through float32, and midpoints round to even", () => {
  for (let h = 0; h < 65536; h++) {
    const exp = (h >>> 10) & 0x1f;
    if (exp === 0x1f) {
      const v = f16ToF32(h);
      if (h & 0x3ff) assert.ok(Number.isNaN(v));
      else assert.equal(v, h & 0x8000 ? -Infinity : Infinity);
      continue;
    }
    assert.equal(f32ToF16(f16ToF32(h)), h, `half 0x${h.toString(16)}`);
    // Midpoint between h and the next half up in magnitude: ties go to the even one.
    if ((h & 0x7fff) < 0x7bff) {
      const a = f16ToF32(h), b = f16ToF32(h + 1);
      const mid = (a + b) / 2; // exact in float64 and representable in float32
      assert.equal(Math.fround(mid), mid);
      assert.equal(f32ToF16(mid), h & 1 ? h + 1 : h, `midpoint above 0x${h.toString(16)}`);
    }
  }
  assert.equal(f32ToF16(65519.99), 0x7bff);
  assert.equal(f32ToF16(65520), 0x7c00);
  assert.equal(f32ToF16(-1e9), 0xfc00);
  assert.equal(f32ToF16(NaN), 0x7e00);
  assert.equal(f32ToF16(f32FromBits(0xffc00001)), 0xfe00);
});

test("bf16: round to nearest even, NaN quieted", () => {
  assert.equal(f32ToBf16(f32FromBits(0x3f808000)), 0x3f80); // tie, even below
  assert.equal(f32ToBf16(f32FromBits(0x3f818000)), 0x3f82); // tie, even above
  assert.equal(f32ToBf16(f32FromBits(0x7f800001)), 0x7fc0);
  assert.equal(f32Bits(bf16ToF32(0x4049)), 0x40490000);
});

test("fp8: E4M3FN and E5M2 encode/decode", () => {
  assert.equal(e4m3ToF32(0x7e), 448);
  assert.ok(Number.isNaN(e4m3ToF32(0x7f)));
  assert.equal(e4m3ToF32(0x01), 2 ** -9);
  assert.equal(e5m2ToF32(0x7b), 57344);
  assert.equal(e5m2ToF32(0x7c), Infinity);
  for (let b = 0; b < 256; b++) {
    if ((b & 0x7f) !== 0x7f) assert.equal(f32ToE4m3(e4m3ToF32(b)), b, `e4m3 0x${b.toString(16)}`);
    if ((b & 0x7f) < 0x7c) assert.equal(f32ToE5m2(e5m2ToF32(b)), b, `e5m2 0x${b.toString(16)}`);
  }
  assert.equal(f32ToE4m3(464), 0x7e); // tie between 448 (even) and the NaN slot
  assert.equal(f32ToE4m3(465), 0x7f);
  assert.equal(f32ToE4m3(-1000, true), 0xfe);
  assert.equal(f32ToE4m3(1.0625), 0x38); // tie 1 | 1.125 -> even 1
  assert.equal(f32ToE5m2(61440), 0x7c);
  assert.equal(f32ToE5m2(61439), 0x7b);
  assert.equal(f32ToE5m2(1e6, true), 0x7b);
});

test("toFloat32 decodes plain types and fromFloat32 encodes float types", () => {
  const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const t = (n: string) => tensorType(n)!;
  assert.deepEqual([...toFloat32(bytes(new Int8Array([-3, 4])), t("I8"), 2)], [-3, 4]);
  assert.deepEqual([...toFloat32(bytes(new BigInt64Array([-5n, 1n << 40n])), t("I64"), 2)], [-5, 2 ** 40]);
  assert.deepEqual([...toFloat32(bytes(new Float64Array([0.5, -2])), t("F64"), 2)], [0.5, -2]);
  assert.deepEqual([...toFloat32(new Uint8Array([0x38, 0xbc]), t("F8_E4M3"), 2)], [1, -1.5]);
  const src = new Float32Array([1, -2.5, 3.140625, 65504]);
  for (const name of ["F32", "F16", "BF16"]) {
    const enc = fromFloat32(src, t(name));
    assert.equal(enc.length, 4 * t(name).typeSize);
    // Unaligned input bytes are handled too.
    const shifted = new Uint8Array(enc.length + 1);
    shifted.set(enc, 1);
    assert.deepEqual([...toFloat32(shifted.subarray(1), t(name), 4)], name === "BF16" ? [1, -2.5, 3.140625, 65536] : [...src]);
  }
});

test("byte views read misaligned Node Buffers correctly (a Buffer's slice is not a copy)", () => {
  const values = Float32Array.of(1.5, -2.25, 3.125);
  const buf = Buffer.alloc(13);
  Buffer.from(values.buffer).copy(buf, 1);
  const misaligned = buf.subarray(1);
  assert.deepEqual([...viewF32(misaligned)], [...values]);
});
