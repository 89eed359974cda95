/**
 * IEEE binary16 (fp16) and bfloat16 conversions, bit-exact with ggml:
 * - fp32 -> fp16 (GGML_FP32_TO_FP16): round to nearest even, correct subnormals, overflow to +-inf; every NaN
 *   becomes a quiet NaN 0x7E00 carrying the input's sign (0xFE00 for a negative NaN).
 * - fp16 -> fp32: exact; a NaN keeps its payload and comes out quiet (ggml's conversion multiplies it by a
 *   power of two, which sets the quiet bit).
 * - fp32 -> bf16 (GGML_FP32_TO_BF16): `(bits + 0x7FFF + ((bits >> 16) & 1)) >> 16` (nearest even, subnormals
 *   kept); a NaN becomes `(bits >> 16) | 0x40`.
 * - bf16 -> fp32: `bits << 16`.
 * Scalar functions work on bit patterns held in plain numbers; row functions on typed arrays, allocation free.
 */

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The binary32 bit pattern of `x` (rounded to float32 first). */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The float32 value of a bit pattern. */
export function f32FromBits(bits: number): number {
  scratchU32[0] = bits;
  return scratchF32[0]!;
}

const TWO_POW_24 = 16777216;
const TWO_POW_52 = 4503599627370496;

/** fp16 bits of the float32 with bits `w` (unsigned 32-bit). */
function f16FromF32BitsAndValue(w: number, magnitude: number): number {
  const sign = (w >>> 16) & 0x8000;
  const a = w & 0x7fffffff;
  if (a >= 0x38800000) {
    // Normal fp16 range or above: drop 13 mantissa bits with round-half-even; a carry runs into the exponent,
    // which also turns 65520 and above into infinity (0x7C00).
    if (a >= 0x47800000) return sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00);
    return sign | ((a - 0x38000000 + 0x0fff + ((a >>> 13) & 1)) >>> 13);
  }
  // fp16 subnormals are multiples of 2^-24: round |x| * 2^24 (exact in float64) half to even with the 2^52
  // trick. The result 1024 is the smallest normal's bit pattern, so the carry is right too.
  return sign | (magnitude * TWO_POW_24 + TWO_POW_52 - TWO_POW_52);
}

/** fp16 bit pattern of `x` (a number, first rounded to float32 as C would hold it). */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  const w = scratchU32[0]!;
  return f16FromF32BitsAndValue(w, Math.abs(scratchF32[0]!));
}

let f16Table: Uint32Array | undefined;

/** fp32 bit patterns of all 65536 fp16 values, built on first use. */
function f16ToF32Table(): Uint32Array {
  if (f16Table) return f16Table;
  const t = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    const man = h & 0x3ff;
    let bits: number;
    if (exp === 0x1f) bits = 0x7f800000 | (man << 13) | (man !== 0 ? 0x400000 : 0);
    else if (exp !== 0) bits = ((exp + 112) << 23) | (man << 13);
    else if (man === 0) bits = 0;
    else {
      // Subnormal: man * 2^-24; normalise by shifting the leading one into the implicit position.
      let e = 113;
      let m = man;
      while ((m & 0x400) === 0) {
        m <<= 1;
        e--;
      }
      bits = (e << 23) | ((m & 0x3ff) << 13);
    }
    t[h] = (sign | bits) >>> 0;
  }
  f16Table = t;
  return t;
}

let f16ValueTable: Float32Array | undefined;

/** float32 value of an fp16 bit pattern. */
export function f16ToF32(h: number): number {
  if (!f16ValueTable) f16ValueTable = new Float32Array(f16ToF32Table().buffer);
  return f16ValueTable[h & 0xffff]!;
}

/** bf16 bit pattern of `x` (first rounded to float32). */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  const w = scratchU32[0]!;
  if ((w & 0x7fffffff) > 0x7f800000) return (w >>> 16) | 0x40;
  return (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
}

/** float32 value of a bf16 bit pattern. */
export function bf16ToF32(h: number): number {
  scratchU32[0] = (h & 0xffff) << 16;
  return scratchF32[0]!;
}

function checkLengths(n: number, srcLength: number, dstLength: number): void {
  if (n > srcLength || n > dstLength) throw new RangeError(`row conversion of ${n} values: source holds ${srcLength}, destination ${dstLength}`);
}

/** Converts `n` float32 values (default: all of src) to fp16 bit patterns, like ggml_fp32_to_fp16_row. */
export function f32ToF16Row(src: Float32Array, dst: Uint16Array, n = src.length): Uint16Array {
  checkLengths(n, src.length, dst.length);
  const w32 = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < n; i++) {
    const w = w32[i]!;
    const a = w & 0x7fffffff;
    const sign = (w >>> 16) & 0x8000;
    if (a >= 0x38800000) {
      dst[i] = a >= 0x47800000 ? sign | (a > 0x7f800000 ? 0x7e00 : 0x7c00) : sign | ((a - 0x38000000 + 0x0fff + ((a >>> 13) & 1)) >>> 13);
    } else {
      dst[i] = sign | (Math.abs(src[i]!) * TWO_POW_24 + TWO_POW_52 - TWO_POW_52);
    }
  }
  return dst;
}

/** Converts `n` fp16 bit patterns to float32, like ggml_fp16_to_fp32_row. */
export function f16ToF32Row(src: Uint16Array, dst: Float32Array, n = src.length): Float32Array {
  checkLengths(n, src.length, dst.length);
  const table = f16ToF32Table();
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  for (let i = 0; i < n; i++) out[i] = table[src[i]!]!;
  return dst;
}

/** Converts `n` float32 values to bf16 bit patterns, like ggml_fp32_to_bf16_row. */
export function f32ToBf16Row(src: Float32Array, dst: Uint16Array, n = src.length): Uint16Array {
  checkLengths(n, src.length, dst.length);
  const w32 = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < n; i++) {
    const w = w32[i]!;
    dst[i] = (w & 0x7fffffff) > 0x7f800000 ? (w >>> 16) | 0x40 : (w + 0x7fff + ((w >>> 16) & 1)) >>> 16;
  }
  return dst;
}

/** Converts `n` bf16 bit patterns to float32 (exact). Reads two values per 32-bit word when aligned. */
export function bf16ToF32Row(src: Uint16Array, dst: Float32Array, n = src.length): Float32Array {
  checkLengths(n, src.length, dst.length);
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  let i = 0;
  if ((src.byteOffset & 3) === 0) {
    const pairs = n >>> 1;
    const in32 = new Uint32Array(src.buffer, src.byteOffset, pairs);
    for (let p = 0; p < pairs; p++) {
      const w = in32[p]!;
      out[i] = w << 16;
      out[i + 1] = w & 0xffff0000;
      i += 2;
    }
  }
  for (; i < n; i++) out[i] = src[i]! << 16;
  return dst;
}

/** Stores `x` as little-endian fp16 at `dst[offset]` (any alignment) and returns the stored bit pattern. */
export function storeF16(dst: Uint8Array, offset: number, x: number): number {
  const h = f32ToF16(x);
  dst[offset] = h;
  dst[offset + 1] = h >>> 8;
  return h;
}

/** Reads the little-endian fp16 at `src[offset]` as a float32 value. */
export function loadF16(src: Uint8Array, offset: number): number {
  return f16ToF32(src[offset]! | (src[offset + 1]! << 8));
}
