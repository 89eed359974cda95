/**
 * Keys and values of the tokens a sequence has seen, per layer, so later tokens attend to them without
 * recomputing (generation), and so one forward's attention reads K and V as contiguous matrices.
 *
 * Layout per layer: keys [kvHeads][capacity][headDim] (one head's keys are rows of a matrix), values
 * transposed [kvHeads][headDim][capacity] (one head's values are the rows of Vᵀ). Both products of
 * attention, Q·Kᵀ and P·V = P·(Vᵀ)ᵀ, are then the kernel's x · Wᵀ form.
 */
import { BitsmithError } from "../core/index.js";
import { roundF16 } from "../kernels/activation-rounding.js";

/** Element type of the cache: f32, or f16 as llama.cpp's default cache (values rounded to fp16 when stored). */
export type KvCacheType = "f32" | "f16";

export class KvCache {
  /** Tokens stored (the position of the next token). */
  length = 0;
  private keys: Float32Array[];
  private valuesT: Float32Array[];
  private cap: number;

  constructor(
    readonly layers: number,
    readonly kvHeads: number,
    readonly headDim: number,
    capacity: number,
    /** Largest length the cache may grow to (the model's or the caller's context limit). */
    readonly maxLength = Infinity,
    readonly type: KvCacheType = "f32",
    /** Where the buffers come from (the engine's kernels, so attention multiplies them in place). */
    private readonly allocate: (count: number) => Float32Array = (count) => new Float32Array(count),
  ) {
    this.cap = Math.max(1, capacity);
    this.keys = Array.from({ length: layers }, () => allocate(kvHeads * this.cap * headDim));
    this.valuesT = Array.from({ length: layers }, () => allocate(kvHeads * headDim * this.cap));
  }

  get capacity(): number {
    return this.cap;
  }

  /** Makes room for `total` tokens, growing geometrically. */
  reserve(total: number): void {
    if (total > this.maxLength) {
      throw new BitsmithError(`sequence of ${total} tokens exceeds the context limit of ${this.maxLength}`);
    }
    if (total <= this.cap) return;
    const cap = Math.min(this.maxLength, Math.max(total, this.cap * 2));
    const d = this.headDim;
    for (let l = 0; l < this.layers; l++) {
      const k = this.allocate(this.kvHeads * cap * d);
      const vt = this.allocate(this.kvHeads * d * cap);
      for (let h = 0; h < this.kvHeads; h++) {
        k.set(this.keys[l]!.subarray(h * this.cap * d, (h * this.cap + this.length) * d), h * cap * d);
        for (let i = 0; i < d; i++) {
          const from = (h * d + i) * this.cap;
          vt.set(this.valuesT[l]!.subarray(from, from + this.length), (h * d + i) * cap);
        }
      }
      this.keys[l] = k;
      this.valuesT[l] = vt;
    }
    this.cap = cap;
  }

  /**
   * Stores K and V of `n` new tokens (rows `row0..row0+n-1` of k and v, row stride `stride`) for `layer` at
   * positions length..length+n-1. The caller advances `length` once every layer is stored.
   */
  store(layer: number, k: Float32Array, v: Float32Array, row0: number, n: number, stride: number): void {
    if (this.type === "f16") {
      roundF16(k.subarray(row0 * stride, (row0 + n) * stride), k.subarray(row0 * stride), n * stride);
      roundF16(v.subarray(row0 * stride, (row0 + n) * stride), v.subarray(row0 * stride), n * stride);
    }
    const d = this.headDim;
    const keys = this.keys[layer]!;
    const valuesT = this.valuesT[layer]!;
    for (let t = 0; t < n; t++) {
      const pos = this.length + t;
      const src = (row0 + t) * stride;
      for (let h = 0; h < this.kvHeads; h++) {
        keys.set(k.subarray(src + h * d, src + (h + 1) * d), (h * this.cap + pos) * d);
        for (let i = 0; i < d; i++) valuesT[(h * d + i) * this.cap + pos] = v[src + h * d + i]!;
      }
    }
  }

  layerKeys(layer: number): Float32Array {
    return this.keys[layer]!;
  }

  layerValuesT(layer: number): Float32Array {
    return this.valuesT[layer]!;
  }

  /** Forgets every token (the buffers are kept). */
  clear(): void {
    this.length = 0;
  }
}
