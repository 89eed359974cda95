/**
 * Tokenizers whose ids are llama.cpp's, built from a vocabulary in llama.cpp's terms (TokenizerInfo, as a GGUF
 * stores it): SentencePiece ("llama") and byte-level BPE ("gpt2"), with llama_tokenize's handling of special
 * tokens, BOS/EOS and SentencePiece's space prefix.
 */
import { BitsmithError } from "../core/index.js";
import type { ModelInfo, TokenizerInfo } from "../core/index.js";
import { bpeTokenizer } from "./bpe.js";
import { pieceSource } from "./detokenize.js";
import { splitSpecialTokens } from "./special-split.js";
import { spmTokenizer } from "./spm.js";
import type { DecodeOptions, EncodeOptions, Tokenizer } from "./types.js";
import { decodeUtf8, wellFormed } from "./unicode.js";
import { buildVocab, NULL_TOKEN } from "./vocab.js";

export interface CreateTokenizerOptions {
  /** general.name: llama.cpp changes some token attributes by model name (Phi-3). */
  modelName?: string;
  /** Source name for error messages. */
  file?: string;
}

export function createTokenizer(info: TokenizerInfo, options: CreateTokenizerOptions = {}): Tokenizer {
  const vocab = buildVocab(info, options.modelName, options.file);
  const tokenizeFragment = vocab.type === "spm" ? spmTokenizer(vocab) : bpeTokenizer(vocab);
  const pieces = pieceSource(vocab);
  const idOrUndefined = (id: number) => (id === NULL_TOKEN ? undefined : id);

  const encode = (text: string, { addSpecial = true, parseSpecial = false }: EncodeOptions = {}): number[] => {
    const out: number[] = [];
    if (addSpecial && vocab.addBos) out.push(vocab.bos);
    // SentencePiece prefixes a space to the text at the start and after every special token.
    let afterSpecial = true;
    for (const fragment of splitSpecialTokens(vocab, wellFormed(text), parseSpecial)) {
      if (typeof fragment === "number") {
        out.push(fragment);
        afterSpecial = true;
        continue;
      }
      if (vocab.type === "spm") {
        const prefixed = vocab.addSpacePrefix && afterSpecial ? " " + fragment : fragment;
        tokenizeFragment(prefixed.replaceAll(" ", "\u2581"), out);
      } else {
        tokenizeFragment(fragment, out);
      }
      afterSpecial = false;
    }
    if (addSpecial && vocab.addEos) out.push(vocab.eos);
    return out;
  };

  return {
    vocabSize: vocab.tokens.length,
    bosId: idOrUndefined(vocab.bos),
    eosId: idOrUndefined(vocab.eos),
    eotId: idOrUndefined(vocab.eot),
    padId: idOrUndefined(vocab.pad),
    addBos: vocab.addBos,
    addEos: vocab.addEos,
    encode,
    decode: (ids, { removeSpecial = false, unparseSpecial = true }: DecodeOptions = {}) =>
      decodeUtf8(pieces.detokenize(ids, removeSpecial, unparseSpecial)),
    tokenToPiece: (id, { special = true } = {}) => decodeUtf8(pieces.piece(id, special)),
    isEog: (id) => vocab.eog.has(id),
  };
}

/** The tokenizer of a model (its GGUF vocabulary and general.name). */
export function createModelTokenizer(info: ModelInfo, file?: string): Tokenizer {
  if (info.tokenizer === undefined) throw new BitsmithError("the model has no vocabulary", { file, field: "tokenizer.ggml.model" });
  return createTokenizer(info.tokenizer, { modelName: info.name, file });
}
