/**
 * Writes a SentencePiece model file (tokenizer.model): the inverse of parseSentencePieceModel, so a llama.cpp
 * "llama" vocabulary leaves bitsmith with its scores and token types intact (tokenizer.json has no scores, and
 * llama.cpp's converter reads tokenizer.model first). Fields follow sentencepiece_model.proto: ModelProto
 * 1 pieces, 2 trainer_spec, 3 normalizer_spec; SentencePiece 1 piece, 2 score, 3 type; TrainerSpec 3 model_type
 * (BPE = 2), 4 vocab_size, 35 byte_fallback, 40-43 unk/bos/eos/pad ids; NormalizerSpec 1 name,
 * 3 add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces.
 */
import { utf8Encoder } from "../../core/index.js";
import type { SentencePiece } from "./sentencepiece-model.js";

class ProtoWriter {
  private parts: number[] = [];

  varint(n: number): this {
    // Negative int32 values are encoded as 10-byte two's complement, as protobuf does.
    let v = n < 0 ? BigInt.asUintN(64, BigInt(n)) : BigInt(n);
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) b |= 0x80;
      this.parts.push(b);
    } while (v > 0n);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  bytes(field: number, data: Uint8Array): this {
    this.tag(field, 2).varint(data.length);
    for (const b of data) this.parts.push(b);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytes(field, utf8Encoder.encode(s));
  }
  float(field: number, x: number): this {
    this.tag(field, 5);
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, x, true);
    for (const b of buf) this.parts.push(b);
    return this;
  }
  int(field: number, n: number): this {
    return this.tag(field, 0).varint(n);
  }
  bool(field: number, b: boolean): this {
    return this.int(field, b ? 1 : 0);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

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
