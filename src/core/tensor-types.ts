/**
 * One namespace for every element type a checkpoint can hold: ggml's types (ids as in ggml.h, block sizes and
 * bytes per block as in ggml's type traits) and the safetensors dtypes. Names are ggml's upper-case names
 * (as llama.cpp prints them), which coincide with safetensors' names for the plain types (F32, F16, BF16, I8 ...).
 */

export interface TensorTypeInfo {
  readonly name: string;
  /** ggml type id, when GGUF can store this type. */
  readonly ggmlId?: number;
  /** safetensors dtype name, when safetensors can store this type. */
  readonly safetensors?: string;
  /** Elements per block (1 for plain types). */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly typeSize: number;
  /** True for block-quantized ggml types. */
  readonly quantized: boolean;
  /** True for types whose values are floating point (plain) and so can be read as weights directly. */
  readonly float: boolean;
}

const plain = (name: string, bytes: number, ggmlId: number | undefined, float: boolean, safetensors: string | undefined = name): TensorTypeInfo => ({
  name,
  ggmlId,
  safetensors,
  blockSize: 1,
  typeSize: bytes,
  quantized: false,
  float,
});
const block = (name: string, ggmlId: number, blockSize: number, typeSize: number): TensorTypeInfo => ({
  name,
  ggmlId,
  blockSize,
  typeSize,
  quantized: true,
  float: false,
});

/** Every type. ggml ids 4, 5 (Q4_2, Q4_3), 31-33 and 36-38 (repacked layouts) were removed from ggml and are absent. */
export const TENSOR_TYPES: readonly TensorTypeInfo[] = [
  plain("F32", 4, 0, true),
  plain("F16", 2, 1, true),
  block("Q4_0", 2, 32, 18),
  block("Q4_1", 3, 32, 20),
  block("Q5_0", 6, 32, 22),
  block("Q5_1", 7, 32, 24),
  block("Q8_0", 8, 32, 34),
  block("Q8_1", 9, 32, 36),
  block("Q2_K", 10, 256, 84),
  block("Q3_K", 11, 256, 110),
  block("Q4_K", 12, 256, 144),
  block("Q5_K", 13, 256, 176),
  block("Q6_K", 14, 256, 210),
  block("Q8_K", 15, 256, 292),
  block("IQ2_XXS", 16, 256, 66),
  block("IQ2_XS", 17, 256, 74),
  block("IQ3_XXS", 18, 256, 98),
  block("IQ1_S", 19, 256, 50),
  block("IQ4_NL", 20, 32, 18),
  block("IQ3_S", 21, 256, 110),
  block("IQ2_S", 22, 256, 82),
  block("IQ4_XS", 23, 256, 136),
  plain("I8", 1, 24, false),
  plain("I16", 2, 25, false),
  plain("I32", 4, 26, false),
  plain("I64", 8, 27, false),
  plain("F64", 8, 28, true),
  block("IQ1_M", 29, 256, 56),
  plain("BF16", 2, 30, true),
  block("TQ1_0", 34, 256, 54),
  block("TQ2_0", 35, 256, 66),
  block("MXFP4", 39, 32, 17),
  block("NVFP4", 40, 64, 36),
  block("Q1_0", 41, 128, 18),
  block("Q2_0", 42, 64, 18),
  // safetensors-only types
  plain("F8_E4M3", 1, undefined, true),
  plain("F8_E5M2", 1, undefined, true),
  plain("U8", 1, undefined, false),
  plain("U16", 2, undefined, false),
  plain("U32", 4, undefined, false),
  plain("U64", 8, undefined, false),
  plain("BOOL", 1, undefined, false),
];

const byName = new Map(TENSOR_TYPES.map((t) => [t.name, t]));
const byGgmlId = new Map(TENSOR_TYPES.filter((t) => t.ggmlId !== undefined).map((t) => [t.ggmlId!, t]));
const bySafetensors = new Map(TENSOR_TYPES.filter((t) => t.safetensors !== undefined).map((t) => [t.safetensors!, t]));

/** Looks a type up by name, case-insensitively (llama.cpp users write q4_k_m and Q4_K_M alike). */
export function tensorType(name: string): TensorTypeInfo | undefined {
  return byName.get(name.toUpperCase());
}
export function tensorTypeByGgmlId(id: number): TensorTypeInfo | undefined {
  return byGgmlId.get(id);
}
export function tensorTypeBySafetensors(dtype: string): TensorTypeInfo | undefined {
  return bySafetensors.get(dtype);
}

/**
 * Bytes taken by `elements` values laid out as rows of `rowLength`; undefined when a row is not a whole number
 * of blocks. Uses exact integer arithmetic and reports sizes beyond 2^53 as undefined, so a lying header
 * can never turn into a huge allocation.
 */
export function tensorByteSize(type: TensorTypeInfo, shape: readonly number[]): number | undefined {
  const rowLength = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (rowLength % type.blockSize !== 0) return undefined;
  let elements = 1n;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) return undefined;
    elements *= BigInt(d);
  }
  const bytes = (elements / BigInt(type.blockSize)) * BigInt(type.typeSize);
  return bytes > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(bytes);
}

/** Bits per weight of a type: 4.5 for Q4_0, 16 for F16. */
export function bitsPerWeight(type: TensorTypeInfo): number {
  return (type.typeSize * 8) / type.blockSize;
}
