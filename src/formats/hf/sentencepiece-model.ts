/**
 * The vocabulary of a SentencePiece model file (tokenizer.model): a protobuf ModelProto whose repeated field 1
 * holds the pieces (SentencePiece: 1 piece string, 2 score float, 3 type enum). Only what the vocabulary needs is
 * decoded; trainer and normalizer specs and unknown fields are skipped by wire type, as protobuf readers do.
 */
import { BitsmithError, TokenType, utf8KeepBom } from "../../core/index.js";

/**
 * sentencepiece_model.proto's SentencePiece.Type: llama.cpp's token types are these very numbers (1 normal,
 * 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte), so one enum serves both.
 */
export { TokenType as SentencePieceType };

export interface SentencePiece {
  piece: string;
  score: number;
  /** A SentencePieceType; a value the schema does not define reads as Normal, as protobuf's proto2 does. */
  type: TokenType;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

class ProtoReader {
  private readonly view: DataView;
  at: number;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
    start: number,
    readonly end: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.at = start;
  }

  private fail(message: string): never {
    throw new BitsmithError(`${message} at byte ${this.at}: not a SentencePiece model, or a truncated one`, { file: this.file });
  }

  /** A varint as a number; values beyond 2^53 (which no length or enum here can be) are refused. */
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) this.fail("varint runs past the end of its message");
      const b = this.bytes[this.at++]!;
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) this.fail("varint too large");
        return value;
      }
      scale *= 128;
    }
    return this.fail("varint longer than 10 bytes");
  }

  /** A length-delimited field's extent, checked against the enclosing message. */
  lengthDelimited(): [start: number, end: number] {
    const length = this.varint();
    if (length > this.end - this.at) this.fail(`field of ${length} bytes runs past the end of its message`);
    const start = this.at;
    this.at += length;
    return [start, this.at];
  }

  fixed32Float(): number {
    if (this.end - this.at < 4) this.fail("float runs past the end of its message");
    const v = this.view.getFloat32(this.at, true);
    this.at += 4;
    return v;
  }

  skip(wireType: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_LENGTH_DELIMITED) this.lengthDelimited();
    else if (wireType === WIRE_FIXED32 || wireType === WIRE_FIXED64) {
      const n = wireType === WIRE_FIXED32 ? 4 : 8;
      if (this.end - this.at < n) this.fail("fixed-size field runs past the end of its message");
      this.at += n;
    } else this.fail(`unsupported protobuf wire type ${wireType}`);
  }
}

function readPiece(bytes: Uint8Array, file: string, start: number, end: number, index: number): SentencePiece {
  const r = new ProtoReader(bytes, file, start, end);
  const piece: SentencePiece = { piece: "", score: 0, type: TokenType.Normal };
  while (r.at < end) {
    const key = r.varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (field === 1 && wire === WIRE_LENGTH_DELIMITED) {
      const [s, e] = r.lengthDelimited();
      try {
        piece.piece = utf8KeepBom.decode(bytes.subarray(s, e));
      } catch {
        throw new BitsmithError("is not valid UTF-8", { file, field: `pieces[${index}].piece` });
      }
    } else if (field === 2 && wire === WIRE_FIXED32) {
      piece.score = r.fixed32Float();
    } else if (field === 3 && wire === WIRE_VARINT) {
      const type = r.varint();
      piece.type = type >= TokenType.Normal && type <= TokenType.Byte ? type : TokenType.Normal;
    } else {
      r.skip(wire);
    }
  }
  return piece;
}

/** The pieces of a tokenizer.model, in id order. */
export function parseSentencePieceModel(bytes: Uint8Array, file = "tokenizer.model"): SentencePiece[] {
  const r = new ProtoReader(bytes, file, 0, bytes.length);
  const pieces: SentencePiece[] = [];
  while (r.at < bytes.length) {
    const key = r.varint();
    const wire = key % 8;
    if (Math.floor(key / 8) === 1 && wire === WIRE_LENGTH_DELIMITED) {
      const [s, e] = r.lengthDelimited();
      pieces.push(readPiece(bytes, file, s, e, pieces.length));
    } else {
      r.skip(wire);
    }
  }
  if (pieces.length === 0) throw new BitsmithError("holds no pieces: not a SentencePiece model", { file });
  return pieces;
}
