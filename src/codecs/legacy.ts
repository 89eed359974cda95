/**
 * ggml's original 32-value block formats, byte-exact with ggml_quantize_chunk and to_float:
 *   Q8_0  fp16 d, int8 q[32]                 x = d*q
 *   Q4_0  fp16 d, nibbles[16]                x = d*(q-8)
 *   Q4_1  fp16 d, fp16 m, nibbles[16]        x = d*q + m
 *   Q5_0  fp16 d, u32 high bits, nibbles[16] x = d*(q-16)
 *   Q5_1  fp16 d, fp16 m, u32 high bits, nibbles[16]  x = d*q + m
 * Value j of a block sits in the low nibble of byte j for j < 16 and in the high nibble of byte j-16 after.
 * Without an importance matrix they use the round-to-nearest reference quantizers (quantize_row_*_ref); with one,
 * Q4_0/Q5_0 search a weighted symmetric fit (make_qx_quants) and Q4_1/Q5_1 a weighted scale+min fit
 * (make_qkx3_quants), the weights being imatrix[j] * sqrt(sigma2 + x[j]^2) with sigma2 = mean x^2 of the row.
 * Q8_0 ignores the importance matrix, as ggml does.
 */
import { f32FromBits, loadF16, storeF16 } from "../numeric/half.js";
import { defineBlockCodec } from "./define.js";
import { codecWasm } from "./codec-wasm.js";
import { makeQkxQuantsBatch, makeQxQuantsBatch } from "./ggml-search-batch.js";
import { registerCodec } from "./registry.js";

const fr = Math.fround;
const QK = 32;
const FLT_MAX = 3.4028234663852886e38;

// Per-call scratch (codecs are synchronous, so sharing is safe).
const levels = new Uint8Array(QK);

/**
 * Row-wide scratch of the imatrix paths, whose block searches run batched over a whole row: weights and
 * levels per value, scale and min per block. Grown to the longest row seen.
 */
const row = { weights: new Float32Array(0), levels: new Uint8Array(0), scales: new Float32Array(0), mins: new Float32Array(0) };

/** Mean of x^2 over a row, accumulated in float32 in order. */
function rowSigma2(x: Float32Array, xo: number, n: number): number {
  let sumX2 = 0;
  for (let j = 0; j < n; j++) sumX2 = fr(sumX2 + fr(x[xo + j]! * x[xo + j]!));
  return fr(sumX2 / n);
}

/** The imatrix-derived weights qw[j] * sqrt(sigma2 + x[j]^2) of a whole row into row.weights. */
function rowWeights(x: Float32Array, xo: number, n: number, qw: Float32Array): void {
  if (row.weights.length < n) {
    row.weights = new Float32Array(n);
    row.levels = new Uint8Array(n);
    row.scales = new Float32Array(n / QK);
    row.mins = new Float32Array(n / QK);
  }
  const sigma2 = rowSigma2(x, xo, n);
  const w = row.weights;
  for (let j = 0; j < n; j++) {
    const xj = x[xo + j]!;
    w[j] = fr(qw[j]! * fr(Math.sqrt(fr(sigma2 + fr(xj * xj)))));
  }
}

/** Q4_0/Q5_0 with an importance matrix: make_qx_quants on every block of the row (levels, scales in `row`). */
function searchSymmetricRow(x: Float32Array, xo: number, n: number, qw: Float32Array, nmax: number): void {
  rowWeights(x, xo, n, qw);
  makeQxQuantsBatch(n / QK, QK, nmax, x, xo, row.weights, 0, row.levels, 0, row.scales, 0);
}

/** Q4_1/Q5_1 with an importance matrix: make_qkx3_quants on every block of the row (levels, scales, mins in `row`). */
function searchMinRow(x: Float32Array, xo: number, n: number, qw: Float32Array, nmax: number): void {
  rowWeights(x, xo, n, qw);
  makeQkxQuantsBatch(n / QK, QK, nmax, x, xo, row.weights, row.levels, 0, row.scales, row.mins, fr(-0.9), fr(0.05), 36, false);
}

/** Packs 32 levels L[lo..] (low 4 bits) into 16 bytes at dst[o]. */
function packNibbles(L: Uint8Array, lo: number, dst: Uint8Array, o: number): void {
  for (let j = 0; j < 16; j++) dst[o + j] = (L[lo + j]! & 15) | ((L[lo + j + 16]! & 15) << 4);
}

/** The fifth bits of 32 levels L[lo..] as the little-endian u32 at dst[o]. */
function packHighBits(L: Uint8Array, lo: number, dst: Uint8Array, o: number): void {
  let qh = 0;
  for (let j = 0; j < QK; j++) qh |= ((L[lo + j]! >>> 4) & 1) << j;
  dst[o] = qh;
  dst[o + 1] = qh >>> 8;
  dst[o + 2] = qh >>> 16;
  dst[o + 3] = qh >>> 24;
}

// ---------------------------------------------------------------- Q8_0

/**
 * Runs the codec module's round-to-nearest quantizer `kernel` (legacy-module.ts: the same bytes as the code
 * below it) on the n / 32 blocks of x[xo..] into dst[o..]. Returns false where the module does not run.
 */
function quantizeRowWasm(kernel: "q8_0" | "q4_0", blockBytes: number, x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number): boolean {
  const m = codecWasm();
  if (!m) return false;
  const blocks = n / QK;
  const outAt = 4 * n;
  m.f32(outAt + blocks * blockBytes).set(x.subarray(xo, xo + n));
  m.kernels[kernel]!(m.base, m.base + outAt, blocks);
  dst.set(m.u8(0).subarray(outAt, outAt + blocks * blockBytes), o);
  return true;
}

function quantizeRowQ8_0(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, _qw: unknown, bits: Int32Array): void {
  if (quantizeRowWasm("q8_0", 34, x, xo, n, dst, o)) return;
  // Magnitudes compare as bit patterns, and the sign bit is free. Branch-free code matters here: random signs
  // make branchy loops mispredict.
  for (let b = 0; b < n; b += QK, o += 34) {
    const base = xo + b;
    let amaxBits = 0;
    for (let j = 0; j < QK; j++) {
      const t = amaxBits - (bits[base + j]! & 0x7fffffff);
      amaxBits -= t & (t >> 31);
    }
    const d = fr(f32FromBits(amaxBits) / 127);
    const id = d ? fr(1 / d) : 0;
    storeF16(dst, o, d);
    for (let j = 0; j < QK; j++) {
      // roundf: x*id has the sign of x (id >= 0); adding +-0.5 is exact, truncation then rounds half away from 0.
      dst[o + 2 + j] = (fr(x[base + j]! * id) + 0.5 * ((bits[base + j]! >> 31) | 1)) | 0;
    }
  }
}

function dequantizeQ8_0(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0, k = 0; b < nb; b++, o += 34) {
    const d = loadF16(src, o);
    for (let j = 0; j < QK; j++) out[k++] = ((src[o + 2 + j]! << 24) >> 24) * d;
  }
}

// ---------------------------------------------------------------- Q4_0 / Q5_0 (symmetric)

/**
 * The signed value of largest magnitude in a block, the first one on ties (as quantize_row_q4_0_ref keeps it):
 * a branch-free pass over the bit patterns finds the magnitude, a second pass its first position.
 */
function signedAbsMax(x: Float32Array, bits: Int32Array, base: number): number {
  let amaxBits = 0;
  for (let j = 0; j < QK; j++) {
    const t = amaxBits - (bits[base + j]! & 0x7fffffff);
    amaxBits -= t & (t >> 31);
  }
  let j = 0;
  while (j < QK - 1 && (bits[base + j]! & 0x7fffffff) !== amaxBits) j++;
  return amaxBits === 0 ? 0 : x[base + j]!;
}

function quantizeRowQ4_0(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined, bits: Int32Array): void {
  if (qw) {
    searchSymmetricRow(x, xo, n, qw, 8);
    for (let b = 0; b < n; b += QK, o += 18) {
      storeF16(dst, o, row.scales[b / QK]!);
      packNibbles(row.levels, b, dst, o + 2);
    }
    return;
  }
  if (quantizeRowWasm("q4_0", 18, x, xo, n, dst, o)) return;
  for (let b = 0; b < n; b += QK, o += 18) {
    const base = xo + b;
    const d = fr(signedAbsMax(x, bits, base) / -8);
    const id = d ? fr(1 / d) : 0;
    storeF16(dst, o, d);
    for (let j = 0; j < 16; j++) {
      // (int8_t)(x*id + 8.5f) with the product rounded before the add, then truncated.
      const q0 = Math.min(15, fr(fr(x[base + j]! * id) + 8.5) | 0);
      const q1 = Math.min(15, fr(fr(x[base + j + 16]! * id) + 8.5) | 0);
      dst[o + 2 + j] = q0 | (q1 << 4);
    }
  }
}

function dequantizeQ4_0(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0, k = 0; b < nb; b++, o += 18, k += QK) {
    const d = loadF16(src, o);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]!;
      out[k + j] = ((q & 15) - 8) * d;
      out[k + j + 16] = ((q >>> 4) - 8) * d;
    }
  }
}

function quantizeRowQ5_0(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined, bits: Int32Array): void {
  if (qw) {
    searchSymmetricRow(x, xo, n, qw, 16);
    for (let b = 0; b < n; b += QK, o += 22) {
      storeF16(dst, o, row.scales[b / QK]!);
      packHighBits(row.levels, b, dst, o + 2);
      packNibbles(row.levels, b, dst, o + 6);
    }
    return;
  }
  for (let b = 0; b < n; b += QK, o += 22) {
    const base = xo + b;
    const d = fr(signedAbsMax(x, bits, base) / -16);
    const id = d ? fr(1 / d) : 0;
    storeF16(dst, o, d);
    for (let j = 0; j < QK; j++) levels[j] = Math.min(31, fr(fr(x[base + j]! * id) + 16.5) | 0);
    packHighBits(levels, 0, dst, o + 2);
    packNibbles(levels, 0, dst, o + 6);
  }
}

function readU32(src: Uint8Array, o: number): number {
  return (src[o]! | (src[o + 1]! << 8) | (src[o + 2]! << 16) | (src[o + 3]! << 24)) >>> 0;
}

function dequantizeQ5_0(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0, k = 0; b < nb; b++, o += 22, k += QK) {
    const d = loadF16(src, o);
    const qh = readU32(src, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j]!;
      out[k + j] = ((q & 15) + (((qh >>> j) & 1) << 4) - 16) * d;
      out[k + j + 16] = ((q >>> 4) + (((qh >>> (j + 16)) & 1) << 4) - 16) * d;
    }
  }
}

// ---------------------------------------------------------------- Q4_1 / Q5_1 (scale and min)

/** quantize_row_q4_1_ref / q5_1_ref for one block: stores d and min, leaves the levels in `levels`. */
function quantizeBlockMinRef(x: Float32Array, base: number, nmax: number, dst: Uint8Array, o: number): void {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let j = 0; j < QK; j++) {
    const v = x[base + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const d = fr(fr(max - min) / nmax);
  const id = d ? fr(1 / d) : 0;
  storeF16(dst, o, d);
  storeF16(dst, o + 2, min);
  for (let j = 0; j < QK; j++) {
    const q = fr(fr(fr(x[base + j]! - min) * id) + 0.5) | 0;
    // Q4_1 clamps to 15; Q5_1 stores the (uint8_t) cast, which never exceeds 31 here.
    levels[j] = nmax === 15 ? Math.min(15, q) : q & 255;
  }
}

function quantizeRowQ4_1(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  if (qw) {
    searchMinRow(x, xo, n, qw, 15);
    for (let b = 0; b < n; b += QK, o += 20) {
      storeF16(dst, o, row.scales[b / QK]!);
      storeF16(dst, o + 2, -row.mins[b / QK]!);
      packNibbles(row.levels, b, dst, o + 4);
    }
    return;
  }
  for (let b = 0; b < n; b += QK, o += 20) {
    quantizeBlockMinRef(x, xo + b, 15, dst, o);
    packNibbles(levels, 0, dst, o + 4);
  }
}

function quantizeRowQ5_1(x: Float32Array, xo: number, n: number, dst: Uint8Array, o: number, qw: Float32Array | undefined): void {
  if (qw) {
    searchMinRow(x, xo, n, qw, 31);
    for (let b = 0; b < n; b += QK, o += 24) {
      storeF16(dst, o, row.scales[b / QK]!);
      storeF16(dst, o + 2, -row.mins[b / QK]!);
      packHighBits(row.levels, b, dst, o + 4);
      packNibbles(row.levels, b, dst, o + 8);
    }
    return;
  }
  for (let b = 0; b < n; b += QK, o += 24) {
    quantizeBlockMinRef(x, xo + b, 31, dst, o);
    packHighBits(levels, 0, dst, o + 4);
    packNibbles(levels, 0, dst, o + 8);
  }
}

function dequantizeQ4_1(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0, k = 0; b < nb; b++, o += 20, k += QK) {
    const d = loadF16(src, o);
    const m = loadF16(src, o + 2);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 4 + j]!;
      out[k + j] = fr((q & 15) * d) + m;
      out[k + j + 16] = fr((q >>> 4) * d) + m;
    }
  }
}

function dequantizeQ5_1(src: Uint8Array, nb: number, out: Float32Array): void {
  for (let b = 0, o = 0, k = 0; b < nb; b++, o += 24, k += QK) {
    const d = loadF16(src, o);
    const m = loadF16(src, o + 2);
    const qh = readU32(src, o + 4);
    for (let j = 0; j < 16; j++) {
      const q = src[o + 8 + j]!;
      out[k + j] = fr(((q & 15) | (((qh >>> j) & 1) << 4)) * d) + m;
      out[k + j + 16] = fr(((q >>> 4) | (((qh >>> (j + 16)) & 1) << 4)) * d) + m;
    }
  }
}

export const q8_0Codec = defineBlockCodec({ name: "Q8_0", quantizeRow: quantizeRowQ8_0, dequantize: dequantizeQ8_0 });
export const q4_0Codec = defineBlockCodec({ name: "Q4_0", quantizeRow: quantizeRowQ4_0, dequantize: dequantizeQ4_0 });
export const q4_1Codec = defineBlockCodec({ name: "Q4_1", quantizeRow: quantizeRowQ4_1, dequantize: dequantizeQ4_1 });
export const q5_0Codec = defineBlockCodec({ name: "Q5_0", quantizeRow: quantizeRowQ5_0, dequantize: dequantizeQ5_0 });
export const q5_1Codec = defineBlockCodec({ name: "Q5_1", quantizeRow: quantizeRowQ5_1, dequantize: dequantizeQ5_1 });

for (const c of [q8_0Codec, q4_0Codec, q4_1Codec, q5_0Codec, q5_1Codec]) registerCodec(c);
