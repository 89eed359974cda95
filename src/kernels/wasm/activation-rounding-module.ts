/**
 * llama.cpp's activation rounding (kernels/activation-rounding.ts, the scalar reference) in WebAssembly SIMD,
 * generated with wasm-emitter.ts. Every result is bit-identical to the reference for inputs without NaN (NaNs
 * come out NaN; the reference's payload and sign depend on how JavaScript stores a NaN): each step is a
 * single IEEE float32 operation on the values the reference rounds to float32 (JavaScript's float64
 * product or quotient of two float32 values, rounded once, is the float32 operation), and the fp16/bf16
 * conversions are the same integer formulas on the bit patterns.
 *
 * round_q8_0(x, out, blocks): blocks of 32; q = nearest-even(x · 127/amax), out = fp16(amax/127) · q.
 * round_q8_k(x, out, blocks): blocks of 256; the signed value of largest magnitude (the first of them) sets
 *   iscale = −127/max, out = (1/iscale) · min(127, nearest-even(iscale · x)); a block of zeros stays zero.
 * round_f16(x, out, count), round_bf16(x, out, count): each value rounded to fp16 / bf16 (nearest even) and back.
 * out may be x.
 */
import { FunctionBuilder, f32, f32x4, i32, v128, select } from "./wasm-emitter.js";
import type { Expr, Local } from "./wasm-emitter.js";

export interface ActivationRoundingExports {
  round_q8_0(x: number, out: number, blocks: number): void;
  round_q8_k(x: number, out: number, blocks: number): void;
  round_f16(x: number, out: number, count: number): void;
  round_bf16(x: number, out: number, count: number): void;
}

const splat32 = (bits: number): Expr => v128.i32x4([bits, bits, bits, bits]);

/**
 * float32 lanes rounded to the nearest fp16 value (ties to even), as float32: the normal range keeps 10
 * mantissa bits (a carry may reach the exponent), below 2^-14 values round to multiples of 2^-24 (adding 0.5,
 * whose float32 ulp is 2^-24, rounds there), from 65520 on they become infinity, NaNs quiet NaNs.
 */
function emitF16Round(f: FunctionBuilder, v: Local, a: Local, r: Local): void {
  f.set(a, v128.and(v.get(), splat32(0x7fffffff)));
  const normal = v128.and(v128.i32x4Add(v128.i32x4Add(a.get(), splat32(0x0fff)), v128.and(v128.i32x4ShrS(a.get(), 13), splat32(1))), splat32(0xffffe000));
  const subnormal = f32x4.sub(f32x4.add(a.get(), f32x4.const(0.5)), f32x4.const(0.5));
  f.set(r, v128.bitselect(subnormal, normal, v128.i32x4GtS(splat32(0x38800000), a.get())));
  f.set(r, v128.bitselect(splat32(0x7f800000), r.get(), v128.i32x4GtS(a.get(), splat32(0x477fefff))));
  f.set(r, v128.bitselect(splat32(0x7fc00000), r.get(), v128.i32x4GtS(a.get(), splat32(0x7f800000))));
  f.set(r, v128.or(r.get(), v128.and(v.get(), splat32(0x80000000))));
}

/** bf16: (bits + 0x7fff + bit 16) with the low 16 bits cleared; a NaN keeps its top bits and becomes quiet. */
function emitBf16Round(f: FunctionBuilder, v: Local, a: Local, r: Local): void {
  f.set(a, v128.and(v128.i32x4Add(v128.i32x4Add(v.get(), splat32(0x7fff)), v128.and(v128.i32x4ShrS(v.get(), 16), splat32(1))), splat32(0xffff0000)));
  const nan = v128.i32x4GtS(v128.and(v.get(), splat32(0x7fffffff)), splat32(0x7f800000));
  f.set(r, v128.bitselect(v128.or(v128.and(v.get(), splat32(0xffff0000)), splat32(0x00400000)), a.get(), nan));
}

/** round_<name>(x, out, count): `round` on four values at a time, then one at a time. */
function elementwiseFunction(name: string, round: (f: FunctionBuilder, v: Local, a: Local, r: Local) => void): FunctionBuilder {
  const f = new FunctionBuilder(name, ["i32", "i32", "i32"]);
  const [x, out, count] = f.params as [Local, Local, Local];
  const [i, whole, at] = [f.local("i32"), f.local("i32"), f.local("i32")];
  const [v, a, r] = [f.local("v128"), f.local("v128"), f.local("v128")];
  const offset = () => i32.shl(i.get(), i32.const(2));
  f.set(whole, i32.and(count.get(), i32.const(~3)));
  f.forRange(i, i32.const(0), whole.get(), i32.const(4), () => {
    f.set(v, f32x4.load(i32.add(x.get(), offset())));
    round(f, v, a, r);
    f.v128Store(i32.add(out.get(), offset()), r.get());
  });
  f.forRange(i, whole.get(), count.get(), i32.const(1), () => {
    f.set(at, offset());
    f.set(v, f32x4.loadZero(i32.add(x.get(), at.get())));
    round(f, v, a, r);
    f.storeLane(i32.add(out.get(), at.get()), r.get(), 0);
  });
  return f;
}

/** The largest lane of a vector, as a float32. */
function horizontalMax(f: FunctionBuilder, m: Local): Expr {
  f.set(m, f32x4.max(m.get(), f32x4.shuffle(m.get(), m.get(), [2, 3, 0, 1])));
  f.set(m, f32x4.max(m.get(), f32x4.shuffle(m.get(), m.get(), [1, 0, 3, 2])));
  return f32x4.extractLane(m.get(), 0);
}

function q8_0Function(): FunctionBuilder {
  const f = new FunctionBuilder("round_q8_0", ["i32", "i32", "i32"]);
  const [x, out, blocks] = f.params as [Local, Local, Local];
  const [b, p, o] = [f.local("i32"), f.local("i32"), f.local("i32")];
  const [m, d, id, a] = [f.local("v128"), f.local("v128"), f.local("v128"), f.local("v128")];
  const amax = f.local("f32");
  f.forRange(b, i32.const(0), blocks.get(), i32.const(1), () => {
    f.set(p, i32.add(x.get(), i32.shl(b.get(), i32.const(7))));
    f.set(o, i32.add(out.get(), i32.shl(b.get(), i32.const(7))));
    f.set(m, f32x4.zero());
    for (let j = 0; j < 8; j++) f.set(m, f32x4.max(m.get(), f32x4.abs(f32x4.load(p.get(), 16 * j))));
    f.set(amax, horizontalMax(f, m));
    f.set(m, f32x4.splat(f32.div(amax.get(), f32.const(127))));
    emitF16Round(f, m, a, d);
    f.set(id, f32x4.splat(select(f32.div(f32.const(127), amax.get()), f32.const(0), f32.ne(amax.get(), f32.const(0)))));
    for (let j = 0; j < 8; j++) f.v128Store(o.get(), f32x4.mul(d.get(), f32x4.nearest(f32x4.mul(f32x4.load(p.get(), 16 * j), id.get()))), 16 * j);
  });
  return f;
}

function q8_kFunction(): FunctionBuilder {
  const f = new FunctionBuilder("round_q8_k", ["i32", "i32", "i32"]);
  const [x, out, blocks] = f.params as [Local, Local, Local];
  const [b, p, o, j, mask] = Array.from({ length: 5 }, () => f.local("i32")) as [Local, Local, Local, Local, Local];
  const [m, scale, d] = [f.local("v128"), f.local("v128"), f.local("v128")];
  const [amax, iscale] = [f.local("f32"), f.local("f32")];
  const BLOCK_BYTES = 1024;
  f.forRange(b, i32.const(0), blocks.get(), i32.const(1), () => {
    f.set(p, i32.add(x.get(), i32.mul(b.get(), i32.const(BLOCK_BYTES))));
    f.set(o, i32.add(out.get(), i32.mul(b.get(), i32.const(BLOCK_BYTES))));
    f.set(m, f32x4.zero());
    f.forRange(j, i32.const(0), i32.const(BLOCK_BYTES), i32.const(16), () => f.set(m, f32x4.max(m.get(), f32x4.abs(f32x4.load(i32.add(p.get(), j.get()))))));
    f.set(amax, horizontalMax(f, m));
    f.ifThen(
      f32.gt(amax.get(), f32.const(0)),
      () => {
        // The first value whose magnitude is amax: the first vector holding one, then its first such lane.
        f.set(m, f32x4.splat(amax.get()));
        f.set(j, i32.const(0));
        f.set(mask, i32.const(0));
        f.whileTrue(i32.and(i32.eqz(mask.get()), i32.ltS(j.get(), i32.const(BLOCK_BYTES))), () => {
          f.set(mask, v128.i32x4Bitmask(f32x4.eq(f32x4.abs(f32x4.load(i32.add(p.get(), j.get()))), m.get())));
          f.set(j, i32.add(j.get(), i32.const(16)));
        });
        const max = f32.load(i32.add(i32.add(p.get(), i32.sub(j.get(), i32.const(16))), i32.shl(i32.ctz(mask.get()), i32.const(2))));
        f.set(iscale, f32.div(f32.const(-127), max));
        f.set(scale, f32x4.splat(iscale.get()));
        f.set(d, f32x4.splat(f32.div(f32.const(1), iscale.get())));
        // + 0 turns a rounded −0 into +0, as the reference's integer rounding gives.
        f.forRange(j, i32.const(0), i32.const(BLOCK_BYTES), i32.const(16), () => {
          const q = f32x4.add(f32x4.min(f32x4.nearest(f32x4.mul(scale.get(), f32x4.load(i32.add(p.get(), j.get())))), f32x4.const(127)), f32x4.zero());
          f.v128Store(i32.add(o.get(), j.get()), f32x4.mul(d.get(), q));
        });
      },
      () => f.forRange(j, i32.const(0), i32.const(BLOCK_BYTES), i32.const(16), () => f.v128Store(i32.add(o.get(), j.get()), f32x4.zero())),
    );
  });
  return f;
}

export function activationRoundingFunctions(): FunctionBuilder[] {
  return [q8_0Function(), q8_kFunction(), elementwiseFunction("round_f16", emitF16Round), elementwiseFunction("round_bf16", emitBf16Round)];
}
