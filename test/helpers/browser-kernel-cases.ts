/**
 * The products the browser kernel test runs, and their inputs: made from a seed on both sides (the page's
 * worker and Node), so Node can compute the reference without shipping the inputs out of the page. The page
 * returns a hash of the inputs it used, which Node compares with its own to prove they are the same.
 * Browser-safe (no Node imports).
 */
import { SeededRandom } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import type { Accumulation } from "../../src/kernels/kernels.js";

/** C [m × n] = A [m × k] · B [n × k]ᵀ; `inMemory`: the operands are allocated in the kernels' memory (else copied in). */
export interface GemmCase {
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly inMemory: boolean;
  readonly accumulation: Accumulation;
}

/**
 * y [rows × n] = x [rows × k] · Wᵀ for W [n × k] stored as `type` and placed in the kernels' memory: the engine's
 * decode-GEMM (each thread decodes its own rows of W right before multiplying them).
 */
export interface DecodeCase {
  readonly type: string;
  readonly rows: number;
  readonly n: number;
  readonly k: number;
  readonly accumulation: Accumulation;
}

export const GEMM_CASES: readonly GemmCase[] = [
  { m: 17, n: 4095, k: 33, inMemory: false, accumulation: "float32" },
  { m: 256, n: 512, k: 300, inMemory: true, accumulation: "float32" },
  { m: 256, n: 512, k: 300, inMemory: true, accumulation: "float64" },
];

export const DECODE_CASES: readonly DecodeCase[] = [
  { type: "Q8_0", rows: 1, n: 1000, k: 2048, accumulation: "float64" },
  { type: "Q4_K", rows: 1, n: 1000, k: 2048, accumulation: "float64" },
  { type: "F16", rows: 7, n: 1000, k: 2048, accumulation: "float32" },
];

export function gemmInputs(c: GemmCase, index: number): { a: Float32Array; b: Float32Array } {
  const rnd = new SeededRandom(100 + index);
  return { a: rnd.fillNormal(new Float32Array(c.m * c.k), 1), b: rnd.fillNormal(new Float32Array(c.n * c.k), 1) };
}

/** x and W's stored rows (quantized by bitsmith's codec, the bytes the engine would hold). */
export function decodeInputs(c: DecodeCase, index: number): { x: Float32Array; data: Uint8Array } {
  const rnd = new SeededRandom(200 + index);
  const x = rnd.fillNormal(new Float32Array(c.rows * c.k), 1);
  const w = rnd.fillNormal(new Float32Array(c.n * c.k), 0.05);
  return { x, data: requireCodec(c.type).quantize(w, c.n, c.k) };
}

/** FNV-1a over the bytes of some arrays. */
export function hashArrays(...arrays: ArrayBufferView[]): number {
  let h = 0x811c9dc5;
  for (const v of arrays) {
    const bytes = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  }
  return h >>> 0;
}
