/**
 * A protocol-buffers encoder for the few messages bitsmith writes (SentencePiece's tokenizer.model, ONNX
 * graphs): fields are appended in the order called, as protobuf's own serializers do.
 */
import { utf8Encoder } from "./bytes.js";

export class ProtoWriter {
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
  /** A nested message. */
  message(field: number, inner: ProtoWriter): this {
    return this.bytes(field, inner.finish());
  }
  bool(field: number, b: boolean): this {
    return this.int(field, b ? 1 : 0);
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}
