/**
 * The engine's view of a model's tensors: linear weights as matrices for the kernels (which decode them a block
 * of rows at a time from their stored type) and as row readers, small vectors (norms, biases) as float32.
 *
 * Memory policy: the stored bytes of every weight matrix are read once and stay resident (memory ≈ the model
 * file's size, like llama.cpp's mmap), in the kernels' memory when they have one (so worker threads read them
 * in place). Optionally the matrices are kept dequantized as float32 instead
 * (4 bytes per weight): faster when the same model runs many short forwards, because dequantization is then
 * done once rather than in every matmul. "auto" (the default) does that only while the float32 copies total
 * at most AUTO_CACHE_BYTES, so small models get the speed and big ones are never expanded.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import type { ModelSource, TensorRef } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import type { Accumulation, Kernels, WeightMatrix } from "../kernels/kernels.js";
import type { WeightRowReader } from "../kernels/matmul.js";
import type { ActivationFormat } from "../kernels/activation-rounding.js";
import { ggmlAccumulation, ggmlActivationFormat } from "./ggml-activations.js";

export const AUTO_CACHE_BYTES = 512 * 1024 * 1024;

const F32 = tensorType("F32")!;

export type DequantizedCachePolicy = boolean | "auto";

/** A weight matrix [rows × cols] (rows = outputs, cols = inputs), readable a block of rows at a time. */
export interface LinearWeight {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  readonly readRows: WeightRowReader;
  /** The stored matrix, for Kernels.matmul. */
  readonly matrix: WeightMatrix;
  /** Decodes one row into `out` (the embedding lookup). */
  readRow(row: number, out: Float32Array, outOffset: number): void;
  /** The format llama.cpp rounds the activations this matrix multiplies to (see ggml-activations.ts), if any. */
  readonly activationFormat?: ActivationFormat;
  /** How the matmul sums products (default float32; see ggmlAccumulation). */
  readonly accumulation?: Accumulation;
}

function tensorError(source: ModelSource, name: string, message: string): BitsmithError {
  return new BitsmithError(message, { file: source.name, field: `tensor "${name}"` });
}

export function requireTensor(source: ModelSource, name: string): TensorRef {
  const t = source.tensors.find((x) => x.name === name);
  if (!t) throw tensorError(source, name, "missing");
  return t;
}

function checkShape(source: ModelSource, t: TensorRef, expected: readonly number[]): void {
  const same = t.shape.length === expected.length && t.shape.every((d, i) => d === expected[i]);
  if (!same) throw tensorError(source, t.name, `has shape [${t.shape.join(", ")}], expected [${expected.join(", ")}]`);
}

/**
 * Reads a vector (norm weight, bias, rope factors) of `length` values as float32, into memory of `kernels`
 * when given (so they use it in place).
 */
export async function loadVector(source: ModelSource, name: string, length: number, kernels?: Kernels): Promise<Float32Array> {
  const t = requireTensor(source, name);
  const elements = t.shape.reduce((a, b) => a * b, 1);
  if (elements !== length || (t.shape.length !== 1 && t.shape.some((d, i) => i < t.shape.length - 1 && d !== 1))) {
    throw tensorError(source, name, `has shape [${t.shape.join(", ")}], expected [${length}]`);
  }
  return toFloat32(await t.read(), t.type, length, kernels?.allocate(length));
}

class StoredLinearWeight implements LinearWeight {
  readonly readRows: WeightRowReader;
  readonly matrix: WeightMatrix;
  private readonly rowBytes: number;

  constructor(
    readonly name: string,
    readonly rows: number,
    readonly cols: number,
    private readonly tensor: TensorRef,
    private readonly bytes: Uint8Array,
    readonly activationFormat: ActivationFormat | undefined,
    readonly accumulation: Accumulation,
  ) {
    this.rowBytes = (cols / tensor.type.blockSize) * tensor.type.typeSize;
    this.matrix = { rows, cols, type: tensor.type, data: bytes };
    this.readRows = (first, count, scratch) => {
      const b = this.bytes.subarray(first * this.rowBytes, (first + count) * this.rowBytes);
      toFloat32(b, this.tensor.type, count * this.cols, scratch);
      return { data: scratch, offset: 0 };
    };
  }

  readRow(row: number, out: Float32Array, outOffset: number): void {
    const b = this.bytes.subarray(row * this.rowBytes, (row + 1) * this.rowBytes);
    toFloat32(b, this.tensor.type, this.cols, out.subarray(outOffset, outOffset + this.cols));
  }
}

/** A matrix held as float32 (an F32 tensor read directly, or a dequantized copy). */
export class Float32LinearWeight implements LinearWeight {
  readonly readRows: WeightRowReader;
  readonly matrix: WeightMatrix;

  constructor(
    readonly name: string,
    readonly rows: number,
    readonly cols: number,
    private readonly values: Float32Array,
    readonly activationFormat?: ActivationFormat,
    readonly accumulation: Accumulation = "float32",
  ) {
    this.readRows = (first) => ({ data: this.values, offset: first * this.cols });
    this.matrix = { rows, cols, type: F32, data: new Uint8Array(values.buffer, values.byteOffset, rows * cols * 4) };
  }

  readRow(row: number, out: Float32Array, outOffset: number): void {
    out.set(this.values.subarray(row * this.cols, (row + 1) * this.cols), outOffset);
  }
}

export interface LinearLoadOptions {
  /** Keep a dequantized float32 copy instead of decoding in every matmul. */
  dequantize: boolean;
  /** Round activations as llama.cpp's CPU dot products do for this weight type. */
  ggmlActivations: boolean;
  /** Keep the matrix where these kernels use it in place (their memory), when it has room. */
  kernels?: Kernels;
}

/**
 * Loads the matrix `name`, checking it is [rows × cols] and that its type can be decoded. F32 matrices are used
 * in place; others are decoded on the fly or, with `dequantize`, once now.
 */
export async function loadLinearWeight(source: ModelSource, name: string, rows: number, cols: number, options: LinearLoadOptions): Promise<LinearWeight> {
  const t = requireTensor(source, name);
  checkShape(source, t, [rows, cols]);
  if (cols % t.type.blockSize !== 0) throw tensorError(source, name, `row length ${cols} is not a multiple of the ${t.type.name} block size ${t.type.blockSize}`);
  if (!t.type.float && !t.type.quantized) throw tensorError(source, name, `type ${t.type.name} is not a floating-point or quantized type`);
  const read = await t.read();
  const rounding = options.ggmlActivations ? ggmlActivationFormat(t.type) : undefined;
  const accumulation = options.ggmlActivations ? ggmlAccumulation(t.type) : "float32";
  const kernels = options.kernels;
  if (t.type.name === "F32" && !kernels && read.byteOffset % 4 === 0) {
    return new Float32LinearWeight(name, rows, cols, new Float32Array(read.buffer, read.byteOffset, rows * cols), rounding, accumulation);
  }
  // The weight object keeps the very views the kernels handed out: their memory is reclaimed when those are collected.
  if (t.type.name === "F32" || options.dequantize) {
    const values = toFloat32(read, t.type, rows * cols, kernels?.allocate(rows * cols));
    return new Float32LinearWeight(name, rows, cols, values, rounding, accumulation);
  }
  const bytes = kernels ? kernels.place(read) : read;
  const w = new StoredLinearWeight(name, rows, cols, t, bytes, rounding, accumulation);
  // Decode one row now so a type without a codec fails at load time, naming the tensor.
  try {
    w.readRow(0, new Float32Array(cols), 0);
  } catch (e) {
    throw tensorError(source, name, (e as Error).message);
  }
  return w;
}

/** Whether the policy asks for float32 copies of matrices holding `weights` values in total. */
export function shouldCacheDequantized(policy: DequantizedCachePolicy, weights: number): boolean {
  return policy === "auto" ? weights * 4 <= AUTO_CACHE_BYTES : policy;
}
