/**
 * A llama2.c checkpoint (and optionally its tokenizer file) as a ModelSource in llama.cpp's terms: what
 * convert-llama2c-to-ggml would put into a GGUF, with tensors read lazily from the checkpoint.
 */
import type { ByteSource, LlamaHParams, ModelSource } from "../../core/index.js";
import { llama2cHeaderFields, llama2cTensors, readLlama2cHeader } from "./checkpoint.js";
import type { Llama2cHeader } from "./checkpoint.js";
import { readLlama2cTokenizer } from "./tokenizer.js";

/**
 * The context length llama.cpp's converter writes (llama.context_length) for every llama2.c model. It comes from
 * `n_ctx = 128` in the converter's get_default_train_params(), a leftover of the training example it was derived
 * from: the checkpoint's seq_len is never read for it and there is no option to change it. stories260K was
 * trained with seq_len 512, yet its GGUF says 128. seq_len stays available in the source's metadata.
 */
export const LLAMA2C_CONVERTER_CONTEXT_LENGTH = 128;

/** What llama.cpp's converter writes (or llama.cpp assumes, for keys it leaves out) for a llama2.c header. */
function hparamsOf(h: Llama2cHeader): LlamaHParams {
  return {
    vocabSize: h.vocabSize,
    hiddenSize: h.dim,
    intermediateSize: h.hiddenDim,
    numLayers: h.nLayers,
    numHeads: h.nHeads,
    numKvHeads: h.nKvHeads,
    headDim: h.dim / h.nHeads,
    contextLength: LLAMA2C_CONVERTER_CONTEXT_LENGTH,
    // The converter writes 1e-5f; it writes no rope.freq_base, so llama.cpp uses its default 10000.
    rmsNormEps: 1e-5,
    ropeTheta: 10000,
    tieWordEmbeddings: h.sharedClassifier,
    attentionBias: false,
  };
}

/**
 * Opens a llama2.c checkpoint. Tensors carry GGUF names and shapes (outermost first) in the converter's order;
 * metadata holds the header under llama2.c's names. With `tokenizer` (a llama2.c tokenizer file) the vocabulary is
 * read and checked against vocab_size. close() closes both sources; if opening fails they are left to the caller.
 */
export async function openLlama2c(source: ByteSource, tokenizer?: ByteSource): Promise<ModelSource> {
  const header = await readLlama2cHeader(source);
  const vocab = tokenizer ? await readLlama2cTokenizer(tokenizer, header.vocabSize) : undefined;
  return {
    format: "llama2c",
    name: source.name,
    tensors: llama2cTensors(source, header),
    metadata: llama2cHeaderFields(header),
    // general.name is the constant "llama" in llama.cpp's converter, not the file name.
    info: { architecture: "llama", name: "llama", hparams: hparamsOf(header), tokenizer: vocab },
    async close() {
      await source.close?.();
      await tokenizer?.close?.();
    },
  };
}
