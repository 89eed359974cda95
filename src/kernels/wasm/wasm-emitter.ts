/**
 * A small WebAssembly binary emitter: enough of the format (one imported memory, functions of i32/f32/v128
 * values, exports) and of the instruction set (integer address arithmetic, structured loops, f32 and 128-bit
 * SIMD loads, stores and arithmetic, relaxed-SIMD fused multiply-add) to write bitsmith's kernels in
 * TypeScript. The kernels' source is the TypeScript that calls this emitter; the module bytes are generated at
 * run time, so no toolchain and no prebuilt binary are involved.
 *
 * Expressions are closures that append their stack code; statements are methods of FunctionBuilder. Opcode
 * numbers are the WebAssembly 2.0 binary format's (SIMD after the 0xfd prefix; relaxed SIMD 0x100..).
 */

export type ValueType = "i32" | "f32" | "f64" | "v128";

const VALUE_TYPE_CODE: Record<ValueType, number> = { i32: 0x7f, f32: 0x7d, f64: 0x7c, v128: 0x7b };

/** Growable byte buffer with the format's integer encodings. */
class ByteWriter {
  private bytes: Uint8Array<ArrayBuffer> = new Uint8Array(256);
  length = 0;

  byte(b: number): void {
    if (this.length === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.length++] = b;
  }

  append(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.byte(bytes[i]!);
  }

  /** Unsigned LEB128. */
  u32(v: number): void {
    do {
      let b = v & 0x7f;
      v >>>= 7;
      if (v !== 0) b |= 0x80;
      this.byte(b);
    } while (v !== 0);
  }

  /** Signed LEB128 of a 32-bit integer. */
  s32(v: number): void {
    v |= 0;
    for (;;) {
      const b = v & 0x7f;
      v >>= 7;
      const done = (v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0);
      this.byte(done ? b : b | 0x80);
      if (done) return;
    }
  }

  name(s: string): void {
    const utf8 = new TextEncoder().encode(s);
    this.u32(utf8.length);
    this.append(utf8);
  }

  /** A length-prefixed copy of another writer (sections, function bodies). */
  sized(inner: ByteWriter): void {
    this.u32(inner.length);
    this.append(inner.toBytes());
  }

  toBytes(): Uint8Array<ArrayBuffer> {
    return this.bytes.slice(0, this.length);
  }
}

/** An expression of a known value type; `emit` appends the code that leaves its value on the stack. */
export interface Expr {
  readonly type: ValueType;
  emit(out: ByteWriter): void;
}

export class Local {
  constructor(
    readonly index: number,
    readonly type: ValueType,
  ) {}

  get(): Expr {
    return { type: this.type, emit: (out) => (out.byte(0x20), out.u32(this.index)) };
  }
}

function expr(type: ValueType, operands: readonly Expr[], emitOp: (out: ByteWriter) => void): Expr {
  return {
    type,
    emit: (out) => {
      for (const o of operands) o.emit(out);
      emitOp(out);
    },
  };
}

function check(e: Expr, type: ValueType, what: string): Expr {
  if (e.type !== type) throw new Error(`${what}: expected ${type}, got ${e.type}`);
  return e;
}

const simdOp = (code: number) => (out: ByteWriter) => (out.byte(0xfd), out.u32(code));

/** Natural alignment (log2 bytes) is a hint only; unaligned addresses stay correct. */
function memarg(out: ByteWriter, alignLog2: number, offset: number): void {
  out.u32(alignLog2);
  out.u32(offset);
}

const i32Binary = (code: number) => (a: Expr, b: Expr) => expr("i32", [check(a, "i32", "i32 op"), check(b, "i32", "i32 op")], (out) => out.byte(code));
const f32x4Binary = (code: number) => (a: Expr, b: Expr) => expr("v128", [check(a, "v128", "f32x4 op"), check(b, "v128", "f32x4 op")], simdOp(code));
const f32x4Unary = (code: number) => (a: Expr) => expr("v128", [check(a, "v128", "f32x4 op")], simdOp(code));

/** Integer arithmetic and comparisons (i32, comparisons yield 0/1). */
export const i32 = {
  const: (v: number): Expr => ({ type: "i32", emit: (out) => (out.byte(0x41), out.s32(v)) }),
  eqz: (a: Expr) => expr("i32", [check(a, "i32", "i32.eqz")], (out) => out.byte(0x45)),
  eq: i32Binary(0x46),
  ne: i32Binary(0x47),
  ltS: i32Binary(0x48),
  ltU: i32Binary(0x49),
  gtS: i32Binary(0x4a),
  leS: i32Binary(0x4c),
  geS: i32Binary(0x4e),
  add: i32Binary(0x6a),
  sub: i32Binary(0x6b),
  mul: i32Binary(0x6c),
  and: i32Binary(0x71),
  or: i32Binary(0x72),
  shl: i32Binary(0x74),
  shrU: i32Binary(0x76),
  load: (addr: Expr, offset = 0) => expr("i32", [check(addr, "i32", "i32.load")], (out) => (out.byte(0x28), memarg(out, 2, offset))),
  load8U: (addr: Expr, offset = 0) => expr("i32", [check(addr, "i32", "i32.load8_u")], (out) => (out.byte(0x2d), memarg(out, 0, offset))),
  load16U: (addr: Expr, offset = 0) => expr("i32", [check(addr, "i32", "i32.load16_u")], (out) => (out.byte(0x2f), memarg(out, 1, offset))),
  /** Trailing zero bits. */
  ctz: (a: Expr) => expr("i32", [check(a, "i32", "i32.ctz")], (out) => out.byte(0x68)),
  /** The bits of a float32. */
  reinterpretF32: (a: Expr) => expr("i32", [check(a, "f32", "i32.reinterpret_f32")], (out) => out.byte(0xbc)),
  /** Float32 to int32 toward zero, saturating (NaN gives 0). */
  truncSatF32S: (a: Expr) => expr("i32", [check(a, "f32", "i32.trunc_sat_f32_s")], (out) => (out.byte(0xfc), out.u32(0))),
  /** The smaller of two signed values (select). */
  minS: (a: Expr, b: Expr): Expr => expr("i32", [a, b, i32.ltS(a, b)], (out) => out.byte(0x1b)),
};

/** Scalar float32 memory access. */
const f32Binary = (code: number, what: string) => (a: Expr, b: Expr) => expr("f32", [check(a, "f32", what), check(b, "f32", what)], (out) => out.byte(code));

export const f32 = {
  const: (v: number): Expr => ({
    type: "f32",
    emit: (out) => {
      out.byte(0x43);
      out.append(new Uint8Array(Float32Array.of(v).buffer));
    },
  }),
  load: (addr: Expr, offset = 0) => expr("f32", [check(addr, "i32", "f32.load")], (out) => (out.byte(0x2a), memarg(out, 2, offset))),
  add: f32Binary(0x92, "f32.add"),
  mul: f32Binary(0x94, "f32.mul"),
  max: f32Binary(0x97, "f32.max"),
  sub: f32Binary(0x93, "f32.sub"),
  convertI32S: (a: Expr) => expr("f32", [check(a, "i32", "f32.convert_i32_s")], (out) => out.byte(0xb2)),
  div: f32Binary(0x95, "f32.div"),
  abs: (a: Expr) => expr("f32", [check(a, "f32", "f32.abs")], (out) => out.byte(0x8b)),
  /** Round to the nearest integer, ties to even. */
  nearest: (a: Expr) => expr("f32", [check(a, "f32", "f32.nearest")], (out) => out.byte(0x90)),
  /** Comparisons yield i32 0/1. */
  ne: (a: Expr, b: Expr) => expr("i32", [check(a, "f32", "f32.ne"), check(b, "f32", "f32.ne")], (out) => out.byte(0x5c)),
  lt: (a: Expr, b: Expr) => expr("i32", [check(a, "f32", "f32.lt"), check(b, "f32", "f32.lt")], (out) => out.byte(0x5d)),
  gt: (a: Expr, b: Expr) => expr("i32", [check(a, "f32", "f32.gt"), check(b, "f32", "f32.gt")], (out) => out.byte(0x5e)),
  /** Rounds a float64 to float32 (nearest even). */
  demote: (a: Expr) => expr("f32", [check(a, "f64", "f32.demote_f64")], (out) => out.byte(0xb6)),
};

/** Scalar float64. */
export const f64 = {
  const: (v: number): Expr => ({
    type: "f64",
    emit: (out) => {
      out.byte(0x44);
      out.append(new Uint8Array(Float64Array.of(v).buffer));
    },
  }),
  add: (a: Expr, b: Expr) => expr("f64", [check(a, "f64", "f64.add"), check(b, "f64", "f64.add")], (out) => out.byte(0xa0)),
  mul: (a: Expr, b: Expr) => expr("f64", [check(a, "f64", "f64.mul"), check(b, "f64", "f64.mul")], (out) => out.byte(0xa2)),
  div: (a: Expr, b: Expr) => expr("f64", [check(a, "f64", "f64.div"), check(b, "f64", "f64.div")], (out) => out.byte(0xa3)),
  sub: (a: Expr, b: Expr) => expr("f64", [check(a, "f64", "f64.sub"), check(b, "f64", "f64.sub")], (out) => out.byte(0xa1)),
  sqrt: (a: Expr) => expr("f64", [check(a, "f64", "f64.sqrt")], (out) => out.byte(0x9f)),
  load: (addr: Expr, offset = 0) => expr("f64", [check(addr, "i32", "f64.load")], (out) => (out.byte(0x2b), memarg(out, 3, offset))),
  convertI32S: (a: Expr) => expr("f64", [check(a, "i32", "f64.convert_i32_s")], (out) => out.byte(0xb7)),
  promote: (a: Expr) => expr("f64", [check(a, "f32", "f64.promote_f32")], (out) => out.byte(0xbb)),
};

const f64x2Binary = (code: number) => (a: Expr, b: Expr) => expr("v128", [check(a, "v128", "f64x2 op"), check(b, "v128", "f64x2 op")], simdOp(code));

/** 128-bit SIMD, two float64 lanes. */
export const f64x2 = {
  splat: (a: Expr) => expr("v128", [check(a, "f64", "f64x2.splat")], simdOp(0x14)),
  /** One float64 from memory in both lanes (v128.load64_splat). */
  loadSplat: (addr: Expr, offset = 0) => expr("v128", [check(addr, "i32", "v128.load64_splat")], (out) => (simdOp(0x0a)(out), memarg(out, 3, offset))),
  /** Two float64 lanes of constant value. */
  const: (v: number): Expr => ({ type: "v128", emit: (out) => (simdOp(0x0c)(out), out.append(new Uint8Array(Float64Array.of(v, v).buffer))) }),
  /** Lanes 0 and 1 of a float32 vector, exactly, as two float64. */
  promoteLow: (a: Expr) => expr("v128", [check(a, "v128", "f64x2.promote_low_f32x4")], simdOp(0x5f)),
  /** Two float64 lanes rounded to float32 in lanes 0 and 1 (lanes 2 and 3 zero). */
  demoteZero: (a: Expr) => expr("v128", [check(a, "v128", "f32x4.demote_f64x2_zero")], simdOp(0x5e)),
  sub: f64x2Binary(0xf1),
  div: f64x2Binary(0xf3),
  min: f64x2Binary(0xf4),
  max: f64x2Binary(0xf5),
  extractLane: (a: Expr, lane: number) => expr("f64", [check(a, "v128", "f64x2.extract_lane")], (out) => (simdOp(0x21)(out), out.byte(lane))),
  add: f64x2Binary(0xf0),
  mul: f64x2Binary(0xf2),
  /** a · b + c, fused or not (relaxed SIMD). */
  relaxedMadd: (a: Expr, b: Expr, c: Expr) => expr("v128", [check(a, "v128", "madd"), check(b, "v128", "madd"), check(c, "v128", "madd")], simdOp(0x107)),
};

/** 128-bit SIMD, four float32 lanes. */
export const f32x4 = {
  load: (addr: Expr, offset = 0) => expr("v128", [check(addr, "i32", "v128.load")], (out) => (simdOp(0x00)(out), memarg(out, 4, offset))),
  /** One float32 from memory in all four lanes. */
  loadSplat: (addr: Expr, offset = 0) => expr("v128", [check(addr, "i32", "v128.load32_splat")], (out) => (simdOp(0x09)(out), memarg(out, 2, offset))),
  /** One float32 from memory in lane 0, zeros elsewhere. */
  loadZero: (addr: Expr, offset = 0) => expr("v128", [check(addr, "i32", "v128.load32_zero")], (out) => (simdOp(0x5c)(out), memarg(out, 2, offset))),
  zero: (): Expr => ({ type: "v128", emit: (out) => (simdOp(0x0c)(out), out.append(new Uint8Array(16))) }),
  splat: (a: Expr) => expr("v128", [check(a, "f32", "f32x4.splat")], simdOp(0x13)),
  extractLane: (a: Expr, lane: number) => expr("f32", [check(a, "v128", "f32x4.extract_lane")], (out) => (simdOp(0x1f)(out), out.byte(lane))),
  replaceLane: (v: Expr, lane: number, s: Expr) => expr("v128", [check(v, "v128", "f32x4.replace_lane"), check(s, "f32", "f32x4.replace_lane")], (out) => (simdOp(0x20)(out), out.byte(lane))),
  /** Lanes picked from the 8 float32 lanes of a then b (i8x16.shuffle with whole lanes). */
  shuffle: (a: Expr, b: Expr, lanes: readonly [number, number, number, number]) =>
    expr("v128", [check(a, "v128", "shuffle"), check(b, "v128", "shuffle")], (out) => {
      simdOp(0x0d)(out);
      for (const l of lanes) for (let i = 0; i < 4; i++) out.byte(l * 4 + i);
    }),
  add: f32x4Binary(0xe4),
  sub: f32x4Binary(0xe5),
  mul: f32x4Binary(0xe6),
  div: f32x4Binary(0xe7),
  min: f32x4Binary(0xe8),
  max: f32x4Binary(0xe9),
  /** a · b + c, fused or not as the hardware does it (relaxed SIMD; needs the feature). */
  relaxedMadd: (a: Expr, b: Expr, c: Expr) => expr("v128", [check(a, "v128", "madd"), check(b, "v128", "madd"), check(c, "v128", "madd")], simdOp(0x105)),
  /** Four lanes of the same float32 constant. */
  const: (v: number): Expr => ({ type: "v128", emit: (out) => (simdOp(0x0c)(out), out.append(new Uint8Array(Float32Array.of(v, v, v, v).buffer))) }),
  /** Round toward zero. */
  trunc: f32x4Unary(0x69),
  /** Round to the nearest integer, ties to even (keeps the sign of a zero result). */
  nearest: f32x4Unary(0x6a),
  abs: f32x4Unary(0xe0),
  neg: f32x4Unary(0xe1),
  sqrt: f32x4Unary(0xe3),
  /** Lane comparisons give all-ones (true) or all-zeros lanes; any comparison with NaN is false except ne. */
  eq: f32x4Binary(0x41),
  ne: f32x4Binary(0x42),
  lt: f32x4Binary(0x43),
  gt: f32x4Binary(0x44),
  ge: f32x4Binary(0x46),
};

const v128Unary = (code: number, what: string) => (a: Expr) => expr("v128", [check(a, "v128", what)], simdOp(code));
const v128Binary = (code: number, what: string) => (a: Expr, b: Expr) => expr("v128", [check(a, "v128", what), check(b, "v128", what)], simdOp(code));
const v128Shift = (code: number, what: string) => (a: Expr, count: number) => expr("v128", [check(a, "v128", what), i32.const(count)], simdOp(code));

/** Bitwise 128-bit operations, loads and integer-lane SIMD (for decoding stored weights). */
export const v128 = {
  /** Four 32-bit lanes of constant bits. */
  i32x4: (lanes: readonly [number, number, number, number]): Expr => ({
    type: "v128",
    emit: (out) => {
      simdOp(0x0c)(out);
      for (const l of lanes) for (let i = 0; i < 4; i++) out.byte((l >>> (8 * i)) & 0xff);
    },
  }),
  /** One 16-bit value from memory in all eight lanes. */
  load16Splat: (addr: Expr, offset = 0) => expr("v128", [check(addr, "i32", "v128.load16_splat")], (out) => (simdOp(0x08)(out), memarg(out, 1, offset))),
  and: v128Binary(0x4e, "v128.and"),
  or: v128Binary(0x50, "v128.or"),
  i8x16Sub: v128Binary(0x71, "i8x16.sub"),
  i8x16ShrU: v128Shift(0x6d, "i8x16.shr_u"),
  i16x8ExtendLowI8S: v128Unary(0x87, "i16x8.extend_low_i8x16_s"),
  i16x8ExtendHighI8S: v128Unary(0x88, "i16x8.extend_high_i8x16_s"),
  i32x4ExtendLowI16S: v128Unary(0xa7, "i32x4.extend_low_i16x8_s"),
  i32x4ExtendHighI16S: v128Unary(0xa8, "i32x4.extend_high_i16x8_s"),
  i32x4ExtendLowI16U: v128Unary(0xa9, "i32x4.extend_low_i16x8_u"),
  i32x4ExtendHighI16U: v128Unary(0xaa, "i32x4.extend_high_i16x8_u"),
  i32x4Shl: v128Shift(0xab, "i32x4.shl"),
  i32x4Add: v128Binary(0xae, "i32x4.add"),
  i64x2Shl: v128Shift(0xcb, "i64x2.shl"),
  i64x2Add: v128Binary(0xce, "i64x2.add"),
  i64x2Sub: v128Binary(0xd1, "i64x2.sub"),
  i32x4GtS: v128Binary(0x3b, "i32x4.gt_s"),
  f32x4ConvertI32S: v128Unary(0xfa, "f32x4.convert_i32x4_s"),
  /** a & ~b. */
  andNot: v128Binary(0x4f, "v128.andnot"),
  /** Bits of a where mask is set, of b elsewhere. */
  bitselect: (a: Expr, b: Expr, mask: Expr) => expr("v128", [check(a, "v128", "bitselect"), check(b, "v128", "bitselect"), check(mask, "v128", "bitselect")], simdOp(0x52)),
  /** 1 when any bit is set, else 0 (i32). */
  anyTrue: (a: Expr) => expr("i32", [check(a, "v128", "v128.any_true")], simdOp(0x53)),
  i32x4Splat: (a: Expr) => expr("v128", [check(a, "i32", "i32x4.splat")], simdOp(0x11)),
  i32x4Sub: v128Binary(0xb1, "i32x4.sub"),
  i32x4MinS: v128Binary(0xb6, "i32x4.min_s"),
  i32x4MaxS: v128Binary(0xb8, "i32x4.max_s"),
  i32x4Eq: v128Binary(0x37, "i32x4.eq"),
  i32x4ShrS: v128Shift(0xac, "i32x4.shr_s"),
  /** Float32 lanes to int32 toward zero, saturating (NaN gives 0). */
  i32x4TruncSatF32x4S: v128Unary(0xf8, "i32x4.trunc_sat_f32x4_s"),
  /** One bit per lane: the lane's top bit (i32). */
  i32x4Bitmask: (a: Expr) => expr("i32", [check(a, "v128", "i32x4.bitmask")], simdOp(0xa4)),
  /** Bytes picked from the 32 bytes of a then b. */
  i8x16Shuffle: (a: Expr, b: Expr, bytes: readonly number[]) =>
    expr("v128", [check(a, "v128", "shuffle"), check(b, "v128", "shuffle")], (out) => {
      if (bytes.length !== 16) throw new Error("i8x16.shuffle needs 16 byte indices");
      simdOp(0x0d)(out);
      out.append(bytes);
    }),
  /** Bytes of a picked by the byte indices in b (0 for indices above 15). */
  i8x16Swizzle: v128Binary(0x0e, "i8x16.swizzle"),
};

/** `a` when cond (i32) is non-zero, else `b` (both of one numeric type). */
export function select(a: Expr, b: Expr, cond: Expr): Expr {
  if (a.type !== b.type) throw new Error(`select: ${a.type} and ${b.type}`);
  return expr(a.type, [a, b, check(cond, "i32", "select")], (out) => out.byte(0x1b));
}

/** Statements of one function body; control flow is structured (blocks and loops). */
export class FunctionBuilder {
  readonly body = new ByteWriter();
  private readonly locals: ValueType[] = [];
  readonly params: Local[];

  constructor(
    readonly name: string,
    paramTypes: readonly ValueType[],
    readonly resultTypes: readonly ValueType[] = [],
  ) {
    this.params = paramTypes.map((t, i) => new Local(i, t));
  }

  get paramTypes(): ValueType[] {
    return this.params.map((p) => p.type);
  }

  local(type: ValueType): Local {
    this.locals.push(type);
    return new Local(this.params.length + this.locals.length - 1, type);
  }

  set(local: Local, value: Expr): void {
    check(value, local.type, `local ${local.index}`);
    value.emit(this.body);
    this.body.byte(0x21);
    this.body.u32(local.index);
  }

  /** Leaves a value on the stack (a function's result). */
  push(value: Expr): void {
    value.emit(this.body);
  }

  v128Store(addr: Expr, value: Expr, offset = 0): void {
    check(addr, "i32", "v128.store").emit(this.body);
    check(value, "v128", "v128.store").emit(this.body);
    simdOp(0x0b)(this.body);
    memarg(this.body, 4, offset);
  }

  i32Store(addr: Expr, value: Expr, offset = 0): void {
    check(addr, "i32", "i32.store").emit(this.body);
    check(value, "i32", "i32.store").emit(this.body);
    this.body.byte(0x36);
    memarg(this.body, 2, offset);
  }

  /** Stores the low 16 bits of an i32 (any alignment). */
  i32Store16(addr: Expr, value: Expr, offset = 0): void {
    check(addr, "i32", "i32.store16").emit(this.body);
    check(value, "i32", "i32.store16").emit(this.body);
    this.body.byte(0x3b);
    memarg(this.body, 1, offset);
  }

  f32Store(addr: Expr, value: Expr, offset = 0): void {
    check(addr, "i32", "f32.store").emit(this.body);
    check(value, "f32", "f32.store").emit(this.body);
    this.body.byte(0x38);
    memarg(this.body, 2, offset);
  }

  f64Store(addr: Expr, value: Expr, offset = 0): void {
    check(addr, "i32", "f64.store").emit(this.body);
    check(value, "f64", "f64.store").emit(this.body);
    this.body.byte(0x39);
    memarg(this.body, 3, offset);
  }

  /** Stores lane `lane` of a v128 value as one float32 (v128.store32_lane). */
  storeLane(addr: Expr, value: Expr, lane: number, offset = 0): void {
    check(addr, "i32", "v128.store32_lane").emit(this.body);
    check(value, "v128", "v128.store32_lane").emit(this.body);
    simdOp(0x5a)(this.body);
    memarg(this.body, 2, offset);
    this.body.byte(lane);
  }

  ifThen(cond: Expr, then: () => void, otherwise?: () => void): void {
    check(cond, "i32", "if").emit(this.body);
    this.body.byte(0x04);
    this.body.byte(0x40);
    then();
    if (otherwise) {
      this.body.byte(0x05);
      otherwise();
    }
    this.body.byte(0x0b);
  }

  /** Returns from the function with `value` (its result). */
  returnValue(value: Expr): void {
    value.emit(this.body);
    this.body.byte(0x0f);
  }

  /** Calls function `index` of the module (functions are numbered in the order given to encodeModule). */
  call(index: number, args: readonly Expr[]): void {
    for (const a of args) a.emit(this.body);
    this.body.byte(0x10);
    this.body.u32(index);
  }

  /** while (cond) body. */
  whileTrue(cond: Expr, body: () => void): void {
    this.body.byte(0x02); // block
    this.body.byte(0x40);
    this.body.byte(0x03); // loop
    this.body.byte(0x40);
    i32.eqz(check(cond, "i32", "while")).emit(this.body);
    this.body.byte(0x0d); // br_if 1: leave the block
    this.body.u32(1);
    body();
    this.body.byte(0x0c); // br 0: again
    this.body.u32(0);
    this.body.byte(0x0b);
    this.body.byte(0x0b);
  }

  /** do body while (cond): one branch per pass; the caller guards the first pass. */
  doWhile(body: () => void, cond: () => Expr): void {
    this.body.byte(0x03); // loop
    this.body.byte(0x40);
    body();
    check(cond(), "i32", "do-while").emit(this.body);
    this.body.byte(0x0d); // br_if 0: next pass
    this.body.u32(0);
    this.body.byte(0x0b);
  }

  /**
   * for (v = start; v < end; v += step) body — signed comparison, evaluated before the first pass too.
   * `end` and `step` are re-evaluated each pass, so pass locals or constants.
   */
  forRange(v: Local, start: Expr, end: Expr, step: Expr, body: () => void): void {
    this.set(v, start);
    this.ifThen(i32.ltS(v.get(), end), () =>
      this.doWhile(
        () => {
          body();
          this.set(v, i32.add(v.get(), step));
        },
        () => i32.ltS(v.get(), end),
      ),
    );
  }

  /** The function body with its local declarations. */
  encode(): ByteWriter {
    const out = new ByteWriter();
    const runs: [number, ValueType][] = [];
    for (const t of this.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    out.u32(runs.length);
    for (const [n, t] of runs) {
      out.u32(n);
      out.byte(VALUE_TYPE_CODE[t]);
    }
    out.append(this.body.toBytes());
    out.byte(0x0b);
    return out;
  }
}

export interface MemoryImport {
  /** Pages of 64 KiB. */
  initial: number;
  maximum: number;
  shared: boolean;
}

/**
 * A module importing one memory as env.memory and exporting every function under its name. Returns the binary.
 */
export function encodeModule(memory: MemoryImport, functions: readonly FunctionBuilder[]): Uint8Array<ArrayBuffer> {
  const out = new ByteWriter();
  out.append([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
  const section = (id: number, fill: (s: ByteWriter) => void) => {
    const s = new ByteWriter();
    fill(s);
    out.byte(id);
    out.sized(s);
  };

  const signatures: string[] = [];
  const typeIndex = functions.map((f) => {
    const key = `${f.paramTypes.join(",")}->${f.resultTypes.join(",")}`;
    if (!signatures.includes(key)) signatures.push(key);
    return signatures.indexOf(key);
  });
  section(1, (s) => {
    s.u32(signatures.length);
    for (const key of signatures) {
      const [params, results] = key.split("->").map((x) => (x ? (x.split(",") as ValueType[]) : []));
      s.byte(0x60);
      s.u32(params!.length);
      for (const p of params!) s.byte(VALUE_TYPE_CODE[p]);
      s.u32(results!.length);
      for (const r of results!) s.byte(VALUE_TYPE_CODE[r]);
    }
  });
  section(2, (s) => {
    s.u32(1);
    s.name("env");
    s.name("memory");
    s.byte(0x02);
    s.byte(memory.shared ? 0x03 : 0x01);
    s.u32(memory.initial);
    s.u32(memory.maximum);
  });
  section(3, (s) => {
    s.u32(functions.length);
    for (const t of typeIndex) s.u32(t);
  });
  section(7, (s) => {
    s.u32(functions.length);
    functions.forEach((f, i) => {
      s.name(f.name);
      s.byte(0x00);
      s.u32(i);
    });
  });
  section(10, (s) => {
    s.u32(functions.length);
    for (const f of functions) s.sized(f.encode());
  });
  return out.toBytes();
}
