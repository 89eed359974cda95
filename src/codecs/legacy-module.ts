/**
 * The round-to-nearest quantizers of Q8_0 and Q4_0 (legacy.ts) as WebAssembly SIMD, generated with the kernels'
 * emitter: one 32-value block per pass, the same float32 operations and the same integer conversions as the
 * JavaScript quantizers (so the same bytes for every input), including the fp16 rounding of the block scale.
 *
 * q8_0(src, dst, blocks) and q4_0(src, dst, blocks): `blocks` blocks of float32 values at src to ggml blocks
 * (34 or 18 bytes each) at dst.
 */
import { FunctionBuilder, f32, f32x4, i32, select, v128 } from "../kernels/wasm/wasm-emitter.js";
import type { Expr, Local } from "../kernels/wasm/wasm-emitter.js";

const lanes = (v: number) => v128.i32x4([v, v, v, v]);

/**
 * fp16 bits of a float32 as half.ts's f32ToF16 computes them: round half to even (via the bits for the normal
 * range, via f32.nearest of x * 2^24 for fp16 subnormals), overflow to infinity, NaN to 0x7E00, sign kept.
 */
function f16Bits(f: FunctionBuilder, x: Local, a: Local): Expr {
  f.set(a, i32.and(i32.reinterpretF32(x.get()), i32.const(0x7fffffff)));
  const normal = i32.shrU(i32.add(i32.add(i32.sub(a.get(), i32.const(0x38000000)), i32.const(0x0fff)), i32.and(i32.shrU(a.get(), i32.const(13)), i32.const(1))), i32.const(13));
  const huge = select(i32.const(0x7e00), i32.const(0x7c00), i32.gtS(a.get(), i32.const(0x7f800000)));
  const small = i32.truncSatF32S(f32.nearest(f32.mul(f32.abs(x.get()), f32.const(16777216))));
  const magnitude = select(huge, select(normal, small, i32.geS(a.get(), i32.const(0x38800000))), i32.geS(a.get(), i32.const(0x47800000)));
  return i32.or(i32.and(i32.shrU(i32.reinterpretF32(x.get()), i32.const(16)), i32.const(0x8000)), magnitude);
}

/** Constants and scratch of both quantizers, set once per call. */
interface Block {
  absMask: Local;
  limit: Local;
  /** The largest magnitude's bit pattern in all four lanes. */
  amax: Local;
  d: Local;
  id: Local;
  bits: Local;
  q: Local[];
}

/**
 * A function running `body` on each block; before it, block.amax holds the largest of the block's 32 magnitude
 * bit patterns (legacy.ts compares bit patterns, which orders magnitudes, NaNs above infinity).
 */
function blockLoop<C>(name: string, blockBytes: number, setup: (f: FunctionBuilder) => C, body: (f: FunctionBuilder, src: Local, dst: Local, k: Block, c: C) => void): FunctionBuilder {
  const f = new FunctionBuilder(name, ["i32", "i32", "i32"]);
  const [src, dst, blocks] = f.params as [Local, Local, Local];
  const b = f.local("i32");
  const k: Block = {
    absMask: f.local("v128"),
    limit: f.local("v128"),
    amax: f.local("v128"),
    d: f.local("f32"),
    id: f.local("f32"),
    bits: f.local("i32"),
    q: Array.from({ length: 8 }, () => f.local("v128")),
  };
  f.set(k.absMask, lanes(0x7fffffff));
  f.set(k.limit, f32x4.const(2147483648));
  const c = setup(f);
  f.forRange(b, i32.const(0), blocks.get(), i32.const(1), () => {
    const m = k.amax;
    f.set(m, v128.and(f32x4.load(src.get()), k.absMask.get()));
    for (let j = 1; j < 8; j++) f.set(m, v128.i32x4MaxS(m.get(), v128.and(f32x4.load(src.get(), 16 * j), k.absMask.get())));
    f.set(m, v128.i32x4MaxS(m.get(), f32x4.shuffle(m.get(), m.get(), [2, 3, 0, 1])));
    f.set(m, v128.i32x4MaxS(m.get(), f32x4.shuffle(m.get(), m.get(), [1, 0, 3, 2])));
    body(f, src, dst, k, c);
    f.set(src, i32.add(src.get(), i32.const(128)));
    f.set(dst, i32.add(dst.get(), i32.const(blockBytes)));
  });
  return f;
}

/** int32 lanes as JavaScript's `v | 0` gives them for |v| < 2^31 and for non-finite v (0). */
const toInt32 = (v: Local, limit: Local) => v128.and(v128.i32x4TruncSatF32x4S(v.get()), f32x4.lt(f32x4.abs(v.get()), limit.get()));

/** The low bytes of the 16 int32 lanes of a, b, c, d in order (what a store to a Uint8Array keeps). */
export function lowBytes(a: Expr, b: Expr, c: Expr, d: Expr): Expr {
  const pick = [0, 4, 8, 12, 16, 20, 24, 28, 0, 0, 0, 0, 0, 0, 0, 0];
  return v128.i8x16Shuffle(v128.i8x16Shuffle(a, b, pick), v128.i8x16Shuffle(c, d, pick), [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
}

/** quantize_row_q8_0_ref: d = amax/127, q = roundf(x * (1/d)) as int8. */
export function q8_0QuantizeFunction(): FunctionBuilder {
  const setup = (f: FunctionBuilder) => {
    const c = { x0: f.local("v128"), t: f.local("v128"), sign: f.local("v128"), one: f.local("v128"), half: f.local("v128") };
    f.set(c.sign, lanes(0x80000000));
    f.set(c.one, f32x4.const(1));
    f.set(c.half, f32x4.const(0.5));
    return c;
  };
  return blockLoop("q8_0", 34, setup, (f, src, dst, k, { x0, t, sign, one, half }) => {
    f.set(k.d, f32.div(f32x4.extractLane(k.amax.get(), 0), f32.const(127)));
    f.set(k.id, select(f32.div(f32.const(1), k.d.get()), f32.const(0), f32.ne(k.d.get(), f32.const(0))));
    f.i32Store16(dst.get(), f16Bits(f, k.d, k.bits));
    for (let j = 0; j < 8; j++) {
      // roundf: the truncated value, one more step away from zero when the dropped fraction reaches one half.
      f.set(x0, f32x4.mul(f32x4.load(src.get(), 16 * j), f32x4.splat(k.id.get())));
      f.set(t, f32x4.trunc(x0.get()));
      const away = v128.and(v128.or(v128.and(x0.get(), sign.get()), one.get()), f32x4.ge(f32x4.abs(f32x4.sub(x0.get(), t.get())), half.get()));
      f.set(t, f32x4.add(t.get(), away));
      f.set(k.q[j]!, toInt32(t, k.limit));
    }
    f.v128Store(dst.get(), lowBytes(k.q[0]!.get(), k.q[1]!.get(), k.q[2]!.get(), k.q[3]!.get()), 2);
    f.v128Store(dst.get(), lowBytes(k.q[4]!.get(), k.q[5]!.get(), k.q[6]!.get(), k.q[7]!.get()), 18);
  });
}

/**
 * quantize_row_q4_0_ref: d = max / -8 with max the first value of largest magnitude, q = min(15, (int8)(x/d +
 * 8.5)) (as x * (1/d)); value j in the low nibble of byte j, value j + 16 in its high nibble.
 */
export function q4_0QuantizeFunction(): FunctionBuilder {
  const setup = (f: FunctionBuilder) => {
    const c = { at: f.local("i32"), maxValue: f.local("f32"), v: f.local("v128"), eightAndHalf: f.local("v128"), fifteen: f.local("v128") };
    f.set(c.eightAndHalf, f32x4.const(8.5));
    f.set(c.fifteen, lanes(15));
    return c;
  };
  return blockLoop("q4_0", 18, setup, (f, src, dst, k, { at, maxValue, v, eightAndHalf, fifteen }) => {
    // The first value whose magnitude bits are the largest: one bit per value, the lowest set one.
    let firstMask: Expr = i32.const(0);
    for (let j = 0; j < 8; j++) {
      const eq = v128.i32x4Eq(v128.and(f32x4.load(src.get(), 16 * j), k.absMask.get()), k.amax.get());
      firstMask = i32.or(firstMask, i32.shl(v128.i32x4Bitmask(eq), i32.const(4 * j)));
    }
    f.set(at, i32.ctz(firstMask));
    f.set(k.bits, i32.reinterpretF32(f32x4.extractLane(k.amax.get(), 0)));
    f.set(maxValue, select(f32.const(0), f32.load(i32.add(src.get(), i32.shl(at.get(), i32.const(2)))), i32.eqz(k.bits.get())));
    f.set(k.d, f32.div(maxValue.get(), f32.const(-8)));
    f.set(k.id, select(f32.div(f32.const(1), k.d.get()), f32.const(0), f32.ne(k.d.get(), f32.const(0))));
    f.i32Store16(dst.get(), f16Bits(f, k.d, k.bits));
    for (let j = 0; j < 8; j++) {
      f.set(v, f32x4.add(f32x4.mul(f32x4.load(src.get(), 16 * j), f32x4.splat(k.id.get())), eightAndHalf.get()));
      f.set(k.q[j]!, v128.i32x4MinS(toInt32(v, k.limit), fifteen.get()));
    }
    const byte = (j: number) => v128.or(k.q[j]!.get(), v128.i32x4Shl(k.q[j + 4]!.get(), 4));
    f.v128Store(dst.get(), lowBytes(byte(0), byte(1), byte(2), byte(3)), 2);
  });
}
