/**
 * Writes a SentencePiece model file (tokenizer.model): the inverse of parseSentencePieceModel, so a llama.cpp
 * "llama" vocabulary leaves bitsmith with its scores and token types intact (tokenizer.json has no scores, and
 * llama.cpp's converter reads tokenizer.model first). Fields follow sentencepiece_model.proto: ModelProto
 * 1 pieces, 2 trainer_spec, 3 normalizer_spec; SentencePiece 1 piece, 2 score, 3 type; TrainerSpec 3 model_type
 * (BPE = 2), 4 vocab_size, 35 byte_fallback, 40-43 unk/bos/eos/pad ids; NormalizerSpec 1 name,
 * 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces.
 */
import { ProtoWriter } from "../../core/index.js";
import type { SentencePiece } from "./sentencepiece-model.js";

export interface SentencePieceModelOptions {
  unkId: number;
  /** -1 when the vocabulary has no such token. */
  bosId: number;
  eosId: number;
  padId: number;
  addDummyPrefix: boolean;
  byteFallback: boolean;
}

export function encodeSentencePieceModel(pieces: readonly SentencePiece[], o: SentencePieceModelOptions): Uint8Array {
  const w = new ProtoWriter();
  for (const p of pieces) {
    w.bytes(1, new ProtoWriter().string(1, p.piece).float(2, p.score).int(3, p.type).finish());
  }
  const trainer = new ProtoWriter()
    .int(3, 2 /* BPE */)
    .int(4, pieces.length)
    .bool(35, o.byteFallback)
    .int(40, o.unkId)
    .int(41, o.bosId)
    .int(42, o.eosId)
    .int(43, o.padId)
    .finish();
  w.bytes(2, trainer);
  const normalizer = new ProtoWriter().string(1, "identity").bool(3, o.addDummyPrefix).bool(4, false).bool(5, true).finish();
  w.bytes(3, normalizer);
  return w.finish();
}
