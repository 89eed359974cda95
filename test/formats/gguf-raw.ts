/**
 * Builds GGUF bytes field by field, written from the GGUF specification independently of the library's
 * encoder, so tests can make exact files (valid or corrupt) and check the reader and writer against them.
 */
export class RawGguf {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    this.length += bytes.length;
    return this;
  }
  private num(size: number, set: (v: DataView) => void): this {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    return this.push(b);
  }
  bytes(b: ArrayLike<number>): this {
    return this.push(Uint8Array.from(b));
  }
  ascii(s: string): this {
    return this.push(new TextEncoder().encode(s));
  }
  u8(v: number): this {
    return this.num(1, (d) => d.setUint8(0, v));
  }
  i8(v: number): this {
    return this.num(1, (d) => d.setInt8(0, v));
  }
  u16(v: number): this {
    return this.num(2, (d) => d.setUint16(0, v, true));
  }
  i16(v: number): this {
    return this.num(2, (d) => d.setInt16(0, v, true));
  }
  u32(v: number): this {
    return this.num(4, (d) => d.setUint32(0, v, true));
  }
  i32(v: number): this {
    return this.num(4, (d) => d.setInt32(0, v, true));
  }
  u64(v: bigint | number): this {
    return this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  i64(v: bigint | number): this {
    return this.num(8, (d) => d.setBigInt64(0, BigInt(v), true));
  }
  f32(v: number): this {
    return this.num(4, (d) => d.setFloat32(0, v, true));
  }
  f64(v: number): this {
    return this.num(8, (d) => d.setFloat64(0, v, true));
  }
  /** GGUF string: u64 byte length + UTF-8 bytes. */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u64(b.length).push(b);
  }
  /** "GGUF", version, tensor count, KV count. */
  header(nTensors: number, nKv: number, version = 3): this {
    return this.ascii("GGUF").u32(version).i64(nTensors).i64(nKv);
  }
  /** A tensor info: name, n_dims, ne[], ggml type, offset. */
  tensorInfo(name: string, ne: readonly number[], ggmlType: number, offset: number): this {
    this.str(name).u32(ne.length);
    for (const d of ne) this.i64(d);
    return this.i32(ggmlType).u64(offset);
  }
  /** Zero bytes up to a multiple of `alignment`. */
  pad(alignment = 32): this {
    return this.push(new Uint8Array((alignment - (this.length % alignment)) % alignment));
  }
  get size(): number {
    return this.length;
  }
  build(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
