/**
 * The k-quants' last rounding (kquants.ts) as WebAssembly SIMD, generated with the kernels' emitter: every value
 * of a sub-block re-rounded against the sub-block's stored scale and min, with the same float32 operations and
 * ggml's nearest_int, so the same levels.
 *
 * requant(x, md, levels, groups, n, low, high, offset): for each group g of n values (a multiple of 16) at
 * x + 4 n g with (m, d) = the float32 pair at md + 8 g and d != 0, writes the bytes
 * clamp(nearest_int((x + m) / d), low, high) + offset at levels + n g; groups with d = 0 keep their bytes.
 */
import { FunctionBuilder, f32, f32x4, i32, v128 } from "../kernels/wasm/wasm-emitter.js";
import type { Local } from "../kernels/wasm/wasm-emitter.js";
import { lowBytes } from "./legacy-module.js";

export function requantFunction(): FunctionBuilder {
  const f = new FunctionBuilder("requant", ["i32", "i32", "i32", "i32", "i32", "i32", "i32", "i32"]);
  const [x, md, levels, groups, n, low, high, offset] = f.params as [Local, Local, Local, Local, Local, Local, Local, Local];
  const [g, i] = [f.local("i32"), f.local("i32")];
  const [m, d, magic, lowBits, bias, lowV, highV, offsetV] = Array.from({ length: 8 }, () => f.local("v128"));
  const q = Array.from({ length: 4 }, () => f.local("v128"));
  f.set(magic, f32x4.const(12582912));
  f.set(lowBits, v128.i32x4([0x7fffff, 0x7fffff, 0x7fffff, 0x7fffff]));
  f.set(bias, v128.i32x4([0x400000, 0x400000, 0x400000, 0x400000]));
  f.set(lowV, v128.i32x4Splat(low.get()));
  f.set(highV, v128.i32x4Splat(high.get()));
  f.set(offsetV, v128.i32x4Splat(offset.get()));
  f.forRange(g, i32.const(0), groups.get(), i32.const(1), () => {
    f.ifThen(f32.ne(f32.load(md.get(), 4), f32.const(0)), () => {
      f.set(m, f32x4.loadSplat(md.get()));
      f.set(d, f32x4.loadSplat(md.get(), 4));
      f.forRange(i, i32.const(0), n.get(), i32.const(16), () => {
        for (let k = 0; k < 4; k++) {
          const v = f32x4.div(f32x4.add(f32x4.load(i32.add(x.get(), i32.shl(i.get(), i32.const(2))), 16 * k), m.get()), d.get());
          // nearest_int: the rounded integer in the low mantissa bits of v + 1.5 * 2^23.
          const l = v128.i32x4Sub(v128.and(f32x4.add(v, magic.get()), lowBits.get()), bias.get());
          f.set(q[k]!, v128.i32x4Add(v128.i32x4MinS(v128.i32x4MaxS(l, lowV.get()), highV.get()), offsetV.get()));
        }
        f.v128Store(i32.add(levels.get(), i.get()), lowBytes(q[0]!.get(), q[1]!.get(), q[2]!.get(), q[3]!.get()));
      });
    });
    f.set(x, i32.add(x.get(), i32.shl(n.get(), i32.const(2))));
    f.set(md, i32.add(md.get(), i32.const(8)));
    f.set(levels, i32.add(levels.get(), n.get()));
  });
  return f;
}
