/** llama.cpp's quantized stories260K files and how they were made (reference/models/models.json). */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { REFERENCE } from "../helpers/paths.js";

export const MODELS = path.join(REFERENCE, "models");
export const F32_GGUF = path.join(MODELS, "stories260K-f32.gguf");
export const LLAMA2C = path.join(MODELS, "stories260K", "stories260K.bin");
export const IMATRIX_GGUF = path.join(MODELS, "imatrix-ts-head20k.gguf");
export const IMATRIX_DAT = path.join(MODELS, "imatrix-ts-head20k.dat");

export interface ReferenceQuantization {
  /** llama-quantize's type argument. */
  type: string;
  /** The reference file. */
  file: string;
  /** `--tensor-type` values of the command. */
  tensorTypes: string[];
  /** The `--imatrix` argument as given on the command line (recorded in the file), if any. */
  imatrixArg?: string;
  tensorTypesByName: Map<string, string>;
  /** Tensors that needed a fallback type (ggml names, lower case), where models.json lists them. */
  fallbacks?: { tensor: string; wanted: string; got: string }[];
  /** The default recipe's failure, when it failed. */
  defaultRecipeError?: string;
}

interface ModelsJsonEntry {
  type: string;
  file: string;
  command: string;
  with_imatrix?: string;
  tensor_types: Record<string, string>;
  fallbacks?: { tensor: string; wanted: string; got: string }[];
  default_recipe?: { exit_status: number; error: string };
}

/** Every quantized model of models.json with the arguments parsed from its command. */
export function referenceQuantizations(): ReferenceQuantization[] {
  const json = JSON.parse(readFileSync(path.join(MODELS, "models.json"), "utf8")) as { models: ModelsJsonEntry[] };
  return json.models.map((m) => {
    const args = m.command.split(/\s+/);
    const tensorTypes = args.flatMap((a, i) => (args[i - 1] === "--tensor-type" ? [a] : []));
    const imatrixArg = args.find((_, i) => args[i - 1] === "--imatrix");
    return {
      type: m.type,
      file: path.join(REFERENCE, m.file),
      tensorTypes,
      imatrixArg,
      tensorTypesByName: new Map(Object.entries(m.tensor_types)),
      fallbacks: m.fallbacks,
      defaultRecipeError: m.default_recipe && m.default_recipe.exit_status !== 0 ? m.default_recipe.error : undefined,
    };
  });
}
