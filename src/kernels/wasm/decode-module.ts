/**
 * Weight decoders in WebAssembly SIMD for the common stored types, generated with wasm-emitter.ts: each turns
 * whole blocks of a type into float32 values exactly as the codecs (and ggml's to_float) do, several times
 * faster than the JavaScript codecs, so that a matrix-vector product over F16 or 8-/4-bit weights is not
 * bound by decoding. Other types are decoded by the codecs.
 *
 * decode_<type>(src, dst, blocks): `blocks` blocks from byte address src to float32s at dst.
 */
import { FunctionBuilder, f32x4, i32, v128 } from "./wasm-emitter.js";
import type { Expr, Local } from "./wasm-emitter.js";

/** Values per block of each decoder (F16/BF16: groups of 8 values) and bytes per block. */
export const WASM_DECODERS: Readonly<Record<string, { values: number; bytes: number }>> = {
  F16: { values: 8, bytes: 16 },
  BF16: { values: 8, bytes: 16 },
  Q8_0: { values: 32, bytes: 34 },
  Q4_0: { values: 32, bytes: 18 },
};

/**
 * fp16 bit patterns in the low 16 bits of four lanes (sign-extended) to float32: the exponent and mantissa
 * shifted into float32's place read as a float32 of exponent 2^-112 times the value, so one multiplication
 * by 2^112 scales it right (subnormals included, exactly); infinities and NaNs get float32's all-ones
 * exponent back, NaNs also the quiet bit (as x86's F16C conversion, which ggml's reference values come from);
 * the sign is the lane's top bit.
 */
function f16Lanes(x: Expr): Expr {
  const em = v128.and(x, v128.i32x4([0x7fff, 0x7fff, 0x7fff, 0x7fff]));
  const scaled = f32x4.mul(v128.i32x4Shl(em, 13), v128.i32x4([0x77800000, 0x77800000, 0x77800000, 0x77800000]));
  const special = v128.and(v128.i32x4GtS(em, v128.i32x4([0x7bff, 0x7bff, 0x7bff, 0x7bff])), v128.i32x4([0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000]));
  const quiet = v128.and(v128.i32x4GtS(em, v128.i32x4([0x7c00, 0x7c00, 0x7c00, 0x7c00])), v128.i32x4([0x00400000, 0x00400000, 0x00400000, 0x00400000]));
  const sign = v128.and(x, v128.i32x4([0x80000000, 0x80000000, 0x80000000, 0x80000000]));
  return v128.or(v128.or(v128.or(scaled, special), quiet), sign);
}

function decoder(name: string, body: (f: FunctionBuilder, src: Local, dst: Local) => void, blockBytes: number, blockValues: number): FunctionBuilder {
  const f = new FunctionBuilder(`decode_${name}`, ["i32", "i32", "i32"]);
  const [src, dst, blocks] = f.params as [Local, Local, Local];
  const b = f.local("i32");
  f.forRange(b, i32.const(0), blocks.get(), i32.const(1), () => {
    body(f, src, dst);
    f.set(src, i32.add(src.get(), i32.const(blockBytes)));
    f.set(dst, i32.add(dst.get(), i32.const(4 * blockValues)));
  });
  return f;
}

/** The decoders, in the order of WASM_DECODERS. */
export function decodeFunctions(): FunctionBuilder[] {
  const f16 = decoder(
    "f16",
    (f, src, dst) => {
      const h = f.local("v128");
      f.set(h, f32x4.load(src.get()));
      f.v128Store(dst.get(), f16Lanes(v128.i32x4ExtendLowI16S(h.get())));
      f.v128Store(dst.get(), f16Lanes(v128.i32x4ExtendHighI16S(h.get())), 16);
    },
    16,
    8,
  );
  const bf16 = decoder(
    "bf16",
    (f, src, dst) => {
      const h = f.local("v128");
      f.set(h, f32x4.load(src.get()));
      f.v128Store(dst.get(), v128.i32x4Shl(v128.i32x4ExtendLowI16U(h.get()), 16));
      f.v128Store(dst.get(), v128.i32x4Shl(v128.i32x4ExtendHighI16U(h.get()), 16), 16);
    },
    16,
    8,
  );
  // Q8_0: fp16 scale d, then 32 int8 q; value = q · d.
  const q8 = decoder(
    "q8_0",
    (f, src, dst) => {
      const d = f.local("v128");
      const q = f.local("v128");
      const wide = f.local("v128");
      f.set(d, f16Lanes(v128.i32x4ExtendLowI16S(v128.load16Splat(src.get()))));
      for (let half = 0; half < 2; half++) {
        f.set(q, f32x4.load(src.get(), 2 + 16 * half));
        for (let part = 0; part < 2; part++) {
          f.set(wide, part === 0 ? v128.i16x8ExtendLowI8S(q.get()) : v128.i16x8ExtendHighI8S(q.get()));
          f.v128Store(dst.get(), f32x4.mul(v128.f32x4ConvertI32S(v128.i32x4ExtendLowI16S(wide.get())), d.get()), 64 * half + 32 * part);
          f.v128Store(dst.get(), f32x4.mul(v128.f32x4ConvertI32S(v128.i32x4ExtendHighI16S(wide.get())), d.get()), 64 * half + 32 * part + 16);
        }
      }
    },
    34,
    32,
  );
  // Q4_0: fp16 scale d, then 16 bytes: value j = (low nibble of byte j − 8) · d, value j + 16 = (high nibble − 8) · d.
  const q4 = decoder(
    "q4_0",
    (f, src, dst) => {
      const d = f.local("v128");
      const bytes = f.local("v128");
      const q = f.local("v128");
      const wide = f.local("v128");
      const eight = v128.i32x4([0x08080808, 0x08080808, 0x08080808, 0x08080808]);
      f.set(d, f16Lanes(v128.i32x4ExtendLowI16S(v128.load16Splat(src.get()))));
      f.set(bytes, f32x4.load(src.get(), 2));
      for (let nibble = 0; nibble < 2; nibble++) {
        const raw = nibble === 0 ? v128.and(bytes.get(), v128.i32x4([0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f, 0x0f0f0f0f])) : v128.i8x16ShrU(bytes.get(), 4);
        f.set(q, v128.i8x16Sub(raw, eight));
        for (let part = 0; part < 2; part++) {
          f.set(wide, part === 0 ? v128.i16x8ExtendLowI8S(q.get()) : v128.i16x8ExtendHighI8S(q.get()));
          f.v128Store(dst.get(), f32x4.mul(v128.f32x4ConvertI32S(v128.i32x4ExtendLowI16S(wide.get())), d.get()), 64 * nibble + 32 * part);
          f.v128Store(dst.get(), f32x4.mul(v128.f32x4ConvertI32S(v128.i32x4ExtendHighI16S(wide.get())), d.get()), 64 * nibble + 32 * part + 16);
        }
      }
    },
    18,
    32,
  );
  return [f16, bf16, q8, q4];
}
