/**
 * Any Llama-family ModelSource seen in llama.cpp's terms: GGUF tensor names and GGUF row order. Hugging Face
 * checkpoints get their names mapped and their Q/K rows interleaved (see llama-names.ts) on read; GGUF and
 * llama2.c sources already are in these terms. The converter to GGUF and the engine both consume this view,
 * so the mapping lives in one place.
 */
import { BitsmithError } from "../core/index.js";
import type { ModelSource, TensorRef } from "../core/index.js";
import { hfToGgufName, isIgnoredHfTensor, permuteQkRows, qkPermutationHeads } from "./llama-names.js";
import { ropeFreqsTensor } from "./rope-freqs.js";

function permutedRef(t: TensorRef, name: string, heads: number): TensorRef {
  const rows = t.shape[0]!;
  return {
    name,
    type: t.type,
    shape: t.shape,
    byteLength: t.byteLength,
    async read(offset = 0, length = t.byteLength - offset) {
      const all = permuteQkRows(await t.read(), rows, heads, true);
      return offset === 0 && length === all.length ? all : all.subarray(offset, offset + length);
    },
  };
}

function renamedRef(t: TensorRef, name: string): TensorRef {
  return { name, type: t.type, shape: t.shape, byteLength: t.byteLength, read: (o, l) => t.read(o, l) };
}

/**
 * Tensors of `source` under GGUF names, in the source's order, plus the tensors llama.cpp's converter derives
 * from config.json. Unknown HF tensors are an error naming them.
 */
export function ggufTensors(source: ModelSource): TensorRef[] {
  if (source.format === "gguf" || source.format === "llama2c") return [...source.tensors];
  const h = source.info.hparams;
  if (!h) throw new BitsmithError("hyperparameters unknown (no config.json?)", { file: source.name });
  // convert_hf_to_gguf.py writes generated tensors (llama 3's rope factors) before the checkpoint's own.
  const ropeFreqs = ropeFreqsTensor(h);
  const out: TensorRef[] = ropeFreqs ? [ropeFreqs] : [];
  for (const t of source.tensors) {
    if (isIgnoredHfTensor(t.name)) continue;
    const name = hfToGgufName(t.name);
    if (!name) {
      throw new BitsmithError(`tensor has no llama.cpp equivalent for architecture ${source.info.sourceArchitecture ?? source.info.architecture}`, {
        file: source.name,
        field: t.name,
      });
    }
    const heads = qkPermutationHeads(source.info.architecture, name, h.numHeads, h.numKvHeads);
    out.push(heads === undefined ? renamedRef(t, name) : permutedRef(t, name, heads));
  }
  return out;
}

/** The same model as a ModelSource in GGUF terms. */
export function ggufView(source: ModelSource): ModelSource {
  if (source.format === "gguf" || source.format === "llama2c") return source;
  return { ...source, tensors: ggufTensors(source), close: () => source.close() };
}
