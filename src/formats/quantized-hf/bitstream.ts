/**
 * Packing b-bit codes into 32-bit words as a little-endian bitstream: code k occupies bits [k*b, (k+1)*b) of the
 * stream, word w holds stream bits [32w, 32w+32), bit 0 of a word is its least significant bit.
 *
 * This one rule is every int32 packing the Hugging Face layouts use along a dimension:
 *   - GPTQ for 2, 4 and 8 bits (AutoGPTQ auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py, `pack`:
 *     `qweight[row] |= intweight[j] << (bits * (j - i))`) and for 3 bits, where AutoGPTQ's hand-unrolled loop puts
 *     codes 0-9 at bits 0-29, code 10 across words 0 and 1 (`<< 30`, then `>> 2`), codes 11-20 at bits 1-30 of
 *     word 1, code 21 across words 1 and 2 (`<< 31`, then `>> 1`) and codes 22-31 at bits 2-31 of word 2: the same
 *     stream, 32 codes in 3 words;
 *   - compressed-tensors' pack_to_int32 (src/compressed_tensors/compressors/pack_quantized/helpers.py: element i
 *     at `bit_start = i * num_bits`, word `bit_start // 32`, overflow into the next word), padded with zero bits
 *     to a whole word.
 * AWQ's GEMM layout permutes codes within each word first (see awq.ts) and then packs them the same way.
 */

/** 32-bit words needed for `count` codes of `bits` bits. */
export function packedWordCount(count: number, bits: number): number {
  return Math.ceil((count * bits) / 32);
}

/**
 * Packs codes src[srcStart + k*srcStride] for k < count into dst[dstStart + w*dstStride] for
 * w < packedWordCount(count, bits). Codes must already fit in `bits` bits; unused high bits of the last word are 0.
 */
export function packBitstream(
  src: ArrayLike<number>,
  srcStart: number,
  srcStride: number,
  count: number,
  bits: number,
  dst: Uint32Array,
  dstStart: number,
  dstStride: number,
): void {
  let word = 0;
  let used = 0;
  let at = dstStart;
  for (let k = 0, s = srcStart; k < count; k++, s += srcStride) {
    const code = src[s]!;
    word |= code << used;
    used += bits;
    if (used >= 32) {
      dst[at] = word;
      at += dstStride;
      used -= 32;
      // The high bits of a code that straddles two words open the next one.
      word = used > 0 ? code >>> (bits - used) : 0;
    }
  }
  if (used > 0) dst[at] = word;
}

/** The inverse of packBitstream: reads `count` codes from the words at src[srcStart + w*srcStride]. */
export function unpackBitstream(
  src: Uint32Array,
  srcStart: number,
  srcStride: number,
  count: number,
  bits: number,
  dst: Uint8Array | Int32Array,
  dstStart: number,
  dstStride: number,
): void {
  const mask = (1 << bits) - 1;
  let at = srcStart;
  let word = count > 0 ? src[at]! : 0;
  let pos = 0;
  for (let k = 0, d = dstStart; k < count; k++, d += dstStride) {
    let code = word >>> pos;
    pos += bits;
    if (pos >= 32) {
      pos -= 32;
      // Fetch the next word only when a code remains to be read from it.
      if (pos > 0 || k + 1 < count) {
        at += srcStride;
        word = src[at]!;
        if (pos > 0) code |= word << (bits - pos);
      }
    }
    dst[d] = code & mask;
  }
}
