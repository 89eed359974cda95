/**
 * Encodes a GGUF v3 header: magic, version, counts, key/values, tensor infos and the zero padding that aligns
 * the data section, byte for byte as llama.cpp's gguf writer lays it out.
 */
import { utf8Encoder } from "../../core/index.js";
import { GgufValueType, isTypedArrayType } from "./values.js";
import type { GgufArrayValue, GgufValue } from "./values.js";
import { GGUF_MAGIC, GGUF_VERSION, alignUp } from "./reader.js";

export interface GgufTensorInfo {
  readonly name: string;
  readonly ne: readonly number[];
  readonly ggmlType: number;
  /** Offset from the start of the data section. */
  readonly offset: number;
}

/** A growable little-endian byte buffer. */
class ByteBuilder {
  private bytes = new Uint8Array(64 * 1024);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  /** Grows the buffer for `n` more bytes and returns where they go. Call it before touching bytes/view. */
  private reserve(n: number): number {
    if (this.length + n > this.bytes.length) {
      const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
      this.view = new DataView(grown.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  u8(v: number): void {
    const at = this.reserve(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.reserve(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.reserve(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.reserve(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.reserve(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.reserve(4);
    this.view.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.reserve(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.reserve(8);
    this.view.setFloat64(at, v, true);
  }
  u64(v: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: bigint | number): void {
    const at = this.reserve(8);
    this.view.setBigInt64(at, BigInt(v), true);
  }
  raw(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.bytes.set(b, at); // reserve first: it may replace this.bytes
  }
  string(s: string): void {
    const b = utf8Encoder.encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  /** Zero bytes up to a multiple of `alignment` (new capacity is zero-filled). */
  padTo(alignment: number): void {
    this.reserve(alignUp(this.length, alignment) - this.length);
  }
  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

function writeValue(b: ByteBuilder, v: GgufValue): void {
  b.i32(v.type);
  switch (v.type) {
    case GgufValueType.UINT8:
      return b.u8(v.value);
    case GgufValueType.INT8:
      return b.i8(v.value);
    case GgufValueType.UINT16:
      return b.u16(v.value);
    case GgufValueType.INT16:
      return b.i16(v.value);
    case GgufValueType.UINT32:
      return b.u32(v.value);
    case GgufValueType.INT32:
      return b.i32(v.value);
    case GgufValueType.FLOAT32:
      return b.f32(v.value);
    case GgufValueType.FLOAT64:
      return b.f64(v.value);
    case GgufValueType.UINT64:
      return b.u64(v.value);
    case GgufValueType.INT64:
      return b.i64(v.value);
    case GgufValueType.BOOL:
      return b.u8(v.value ? 1 : 0);
    case GgufValueType.STRING:
      return b.string(v.value);
    case GgufValueType.ARRAY:
      return writeArrayBody(b, v);
  }
}

/** Item type, count and items; items of a nested array carry no type tag of their own. */
function writeArrayBody(b: ByteBuilder, v: GgufArrayValue): void {
  b.i32(v.itemType);
  b.u64(v.value.length);
  if (isTypedArrayType(v.itemType)) {
    const items = v.value as ArrayBufferView;
    b.raw(new Uint8Array(items.buffer, items.byteOffset, items.byteLength));
  } else if (v.itemType === GgufValueType.BOOL) {
    for (const x of v.value as boolean[]) b.u8(x ? 1 : 0);
  } else if (v.itemType === GgufValueType.STRING) {
    for (const s of v.value as string[]) b.string(s);
  } else {
    for (const a of v.value as GgufArrayValue[]) writeArrayBody(b, a);
  }
}

/** The complete header, padded to `alignment` when there are tensors: the data section starts at its end. */
export function encodeGgufHeader(metadata: ReadonlyMap<string, GgufValue>, tensors: readonly GgufTensorInfo[], alignment: number): Uint8Array {
  const b = new ByteBuilder();
  b.raw(utf8Encoder.encode(GGUF_MAGIC));
  b.u32(GGUF_VERSION);
  b.i64(tensors.length);
  b.i64(metadata.size);
  for (const [key, value] of metadata) {
    b.string(key);
    writeValue(b, value);
  }
  for (const t of tensors) {
    b.string(t.name);
    b.u32(t.ne.length);
    for (const d of t.ne) b.i64(d);
    b.i32(t.ggmlType);
    b.u64(t.offset);
  }
  // llama.cpp's C writer pads even a tensor-less file, gguf-py does not; readers skip the padding only when
  // there are tensors, so both are valid. We follow gguf-py here, so vocabulary-only files round-trip exactly.
  if (tensors.length > 0) b.padTo(alignment);
  return b.finish();
}
