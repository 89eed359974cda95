/**
 * Output types of `bitsmith convert` and the per-tensor rule llama.cpp's convert_hf_to_gguf.py applies:
 * 1-D tensors (norms, biases) stay F32; Q8_0 falls back to F16 where a row is not a whole number of blocks.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import type { TensorRef, TensorTypeInfo } from "../core/index.js";

export const OUTTYPES = ["f32", "f16", "bf16", "q8_0", "auto"] as const;
export type OutType = (typeof OUTTYPES)[number];

export function parseOutType(text: string): OutType {
  const t = text.toLowerCase();
  if (!(OUTTYPES as readonly string[]).includes(t)) {
    throw new BitsmithError(`unknown output type "${text}"; valid: ${OUTTYPES.join(", ")}`, { field: "--outtype" });
  }
  return t as OutType;
}

const F32 = tensorType("F32")!;
const F16 = tensorType("F16")!;

/**
 * The type a tensor gets. "auto" keeps F32/F16/BF16 as they are and turns anything else (F64, FP8,
 * quantized types) into F32, losing nothing.
 */
export function outputTensorType(t: TensorRef, outtype: OutType): TensorTypeInfo {
  if (t.shape.length <= 1) return F32;
  if (outtype === "auto") return ["F32", "F16", "BF16"].includes(t.type.name) ? t.type : F32;
  const want = tensorType(outtype)!;
  const rowLength = t.shape.at(-1)!;
  if (rowLength % want.blockSize !== 0) return F16;
  return want;
}
