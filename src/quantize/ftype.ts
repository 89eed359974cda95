/**
 * llama-quantize's output types ("Q4_K_M", "IQ2_XS", "COPY", ...): the LLAMA_FTYPE each writes as
 * general.file_type and the ggml type its recipe starts every tensor from (llama.cpp's
 * llama_ftype_get_default_type). Names, order and ids follow llama-quantize's table, so `Q4_K` is its alias of
 * Q4_K_M and a bare number picks the first entry with that id, as llama-quantize does.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import type { TensorTypeInfo } from "../core/index.js";

export interface QuantizeFileType {
  /** The name as listed (an alias keeps its own name: "Q4_K"). */
  readonly name: string;
  /** The recipe this name selects: the canonical name of its LLAMA_FTYPE ("Q4_K_M" for "Q4_K"). */
  readonly recipe: string;
  /** llama.cpp's LLAMA_FTYPE id, written as general.file_type. */
  readonly ftype: number;
  /** ggml type the recipe starts from (llama_ftype_get_default_type). */
  readonly defaultType: TensorTypeInfo;
  /** COPY: no tensor is converted; the input's file type is kept. */
  readonly onlyCopy: boolean;
  readonly description: string;
}

const entry = (name: string, ftype: number, defaultType: string, description: string, recipe = name): QuantizeFileType => ({
  name,
  recipe,
  ftype,
  defaultType: tensorType(defaultType)!,
  onlyCopy: name === "COPY",
  description,
});

/** llama-quantize's list, in its order. */
export const QUANTIZE_FILE_TYPES: readonly QuantizeFileType[] = [
  entry("Q1_0", 40, "Q1_0", "1.125 bpw, block of 128"),
  entry("Q2_0", 41, "Q2_0", "2.25 bpw, block of 64"),
  entry("Q4_0", 2, "Q4_0", "4.5 bpw legacy 4-bit"),
  entry("Q4_1", 3, "Q4_1", "5.0 bpw legacy 4-bit with offset"),
  entry("MXFP4_MOE", 38, "MXFP4", "MXFP4 (4.25 bpw) for MoE expert tensors, Q8_0 elsewhere"),
  entry("NVFP4", 39, "NVFP4", "4.5 bpw 4-bit floats"),
  entry("Q5_0", 8, "Q5_0", "5.5 bpw legacy 5-bit"),
  entry("Q5_1", 9, "Q5_1", "6.0 bpw legacy 5-bit with offset"),
  entry("IQ2_XXS", 19, "IQ2_XXS", "2.06 bpw i-quant; needs an imatrix"),
  entry("IQ2_XS", 20, "IQ2_XS", "2.31 bpw i-quant; needs an imatrix"),
  entry("IQ2_S", 28, "IQ2_XS", "mix around IQ2_XS (2.31 bpw); needs an imatrix"),
  entry("IQ2_M", 29, "IQ2_S", "mix around IQ2_S (2.56 bpw); needs an imatrix"),
  entry("IQ1_S", 24, "IQ1_S", "1.56 bpw i-quant; needs an imatrix"),
  entry("IQ1_M", 31, "IQ1_M", "1.75 bpw i-quant; needs an imatrix"),
  entry("TQ1_0", 36, "TQ1_0", "1.69 bpw ternary"),
  entry("TQ2_0", 37, "TQ2_0", "2.06 bpw ternary"),
  entry("Q2_K", 10, "Q2_K", "mix around Q2_K (2.63 bpw), attn_v/ffn_down Q3_K-Q4_K"),
  entry("Q2_K_S", 21, "Q2_K", "mix around Q2_K (2.63 bpw); needs an imatrix"),
  entry("IQ3_XXS", 23, "IQ3_XXS", "mix around IQ3_XXS (3.06 bpw); needs an imatrix"),
  entry("IQ3_S", 26, "IQ3_S", "mix around IQ3_S (3.44 bpw)"),
  entry("IQ3_M", 27, "IQ3_S", "mix around IQ3_S (3.44 bpw), attn_v Q4_K"),
  entry("Q3_K", 12, "Q3_K", "alias of Q3_K_M", "Q3_K_M"),
  entry("IQ3_XS", 22, "IQ3_S", "mix of IQ3_S and IQ3_XXS; needs an imatrix"),
  entry("Q3_K_S", 11, "Q3_K", "Q3_K (3.44 bpw) throughout"),
  entry("Q3_K_M", 12, "Q3_K", "mix around Q3_K (3.44 bpw), attn_v/ffn_down Q4_K-Q5_K"),
  entry("Q3_K_L", 13, "Q3_K", "mix around Q3_K (3.44 bpw), attn_v/ffn_down Q5_K"),
  entry("IQ4_NL", 25, "IQ4_NL", "4.5 bpw non-linear, block of 32"),
  entry("IQ4_XS", 30, "IQ4_XS", "4.25 bpw non-linear"),
  entry("Q4_K", 15, "Q4_K", "alias of Q4_K_M", "Q4_K_M"),
  entry("Q4_K_S", 14, "Q4_K", "mix around Q4_K (4.5 bpw)"),
  entry("Q4_K_M", 15, "Q4_K", "mix around Q4_K (4.5 bpw), half of attn_v/ffn_down Q6_K"),
  entry("Q5_K", 17, "Q5_K", "alias of Q5_K_M", "Q5_K_M"),
  entry("Q5_K_S", 16, "Q5_K", "Q5_K (5.5 bpw) throughout"),
  entry("Q5_K_M", 17, "Q5_K", "mix around Q5_K (5.5 bpw), half of attn_v/ffn_down Q6_K"),
  entry("Q6_K", 18, "Q6_K", "6.56 bpw"),
  entry("Q8_0", 7, "Q8_0", "8.5 bpw"),
  entry("F16", 1, "F16", "16-bit floats"),
  entry("BF16", 32, "BF16", "bfloat16"),
  entry("F32", 0, "F32", "32-bit floats"),
  // After F32, so that the id 0 means F32.
  entry("COPY", 0, "F32", "only copy tensors, no quantizing", "COPY"),
];

/** "q4_k_m", "Q4_K_M" or llama.cpp's id ("15") to the file type; unknown names get an error listing the valid ones. */
export function parseQuantizeFileType(text: string): QuantizeFileType {
  const upper = text.trim().toUpperCase();
  const byName = QUANTIZE_FILE_TYPES.find((t) => t.name === upper);
  if (byName) return byName;
  if (/^\d+$/.test(upper)) {
    const byId = QUANTIZE_FILE_TYPES.find((t) => t.ftype === Number(upper));
    if (byId) return byId;
  }
  throw new BitsmithError(`unknown quantization type "${text}"; valid: ${QUANTIZE_FILE_TYPES.map((t) => t.name).join(", ")}`, { field: "type" });
}

/** llama.cpp marks a file type it inferred from the tensors (no general.file_type key) with this bit. */
export const LLAMA_FTYPE_GUESSED = 1024;

/**
 * The LLAMA_FTYPE llama.cpp's loader infers from the most common tensor type (counted in `types` order, the
 * first type to reach the maximum wins), marked as guessed; what COPY writes when the input has no
 * general.file_type.
 */
export function guessFileType(types: readonly TensorTypeInfo[]): number {
  const counts = new Map<string, number>();
  let best = "F32";
  let bestCount = 0;
  for (const t of types) {
    const n = (counts.get(t.name) ?? 0) + 1;
    counts.set(t.name, n);
    if (n > bestCount) {
      bestCount = n;
      best = t.name;
    }
  }
  return (GUESSED_FTYPE_OF_TYPE[best] ?? 0) | LLAMA_FTYPE_GUESSED;
}

/** The loader's type -> file type table (k-quants map to their _M recipe); unknown types count as F32. */
const GUESSED_FTYPE_OF_TYPE: Readonly<Record<string, number>> = {
  F32: 0,
  F16: 1,
  BF16: 32,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 8,
  Q5_1: 9,
  Q8_0: 7,
  Q2_K: 10,
  Q3_K: 12,
  Q4_K: 15,
  Q5_K: 17,
  Q6_K: 18,
  TQ1_0: 36,
  TQ2_0: 37,
  IQ2_XXS: 19,
  IQ2_XS: 20,
  IQ2_S: 28,
  IQ3_XXS: 23,
  IQ1_S: 24,
  IQ1_M: 31,
  IQ4_NL: 25,
  IQ4_XS: 30,
  IQ3_S: 26,
};
