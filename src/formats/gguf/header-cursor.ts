/**
 * Sequential little-endian reads over a ByteSource through a window of a few hundred KB, for parsing a GGUF
 * header (which can hold megabytes of vocabulary) without loading the file and without one source read per
 * field. Every read is checked against the file size first, so a lying length can neither read past the end
 * nor make us allocate more than the file holds.
 */
// utf8KeepBom, not utf8: vocabularies hold U+FEFF as a token of its own, which the default decoder drops.
import { BitsmithError, utf8KeepBom } from "../../core/index.js";
import type { ByteSource } from "../../core/index.js";

const WINDOW = 256 * 1024;

export class HeaderCursor {
  /** Absolute file offset of the next byte to read. */
  pos = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;

  constructor(readonly source: ByteSource) {}

  get remaining(): number {
    return this.source.size - this.pos;
  }

  /** True when the next `n` bytes are already in the window (no await needed). */
  has(n: number): boolean {
    return this.pos + n <= this.bufStart + this.buf.length;
  }

  /** Loads a window holding at least the next `n` bytes; fails naming `field` when the file ends first. */
  async fill(n: number, field: string): Promise<void> {
    if (n > this.remaining) {
      throw new BitsmithError(`needs ${n} bytes at offset ${this.pos} but the file ends after ${this.remaining}: truncated or corrupt`, {
        file: this.source.name,
        field,
      });
    }
    const length = Math.min(Math.max(n, WINDOW), this.remaining);
    this.buf = await this.source.read(this.pos, length);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  async need(n: number, field: string): Promise<void> {
    if (!this.has(n)) await this.fill(n, field);
  }

  // The take* methods read from the window without checks: call need()/has()+fill() first.

  takeU8(): number {
    return this.view.getUint8(this.pos++ - this.bufStart);
  }
  takeI8(): number {
    return this.view.getInt8(this.pos++ - this.bufStart);
  }
  takeU16(): number {
    const v = this.view.getUint16(this.pos - this.bufStart, true);
    this.pos += 2;
    return v;
  }
  takeI16(): number {
    const v = this.view.getInt16(this.pos - this.bufStart, true);
    this.pos += 2;
    return v;
  }
  takeF32(): number {
    const v = this.view.getFloat32(this.pos - this.bufStart, true);
    this.pos += 4;
    return v;
  }
  takeF64(): number {
    const v = this.view.getFloat64(this.pos - this.bufStart, true);
    this.pos += 8;
    return v;
  }
  takeU32(): number {
    const v = this.view.getUint32(this.pos - this.bufStart, true);
    this.pos += 4;
    return v;
  }
  takeI32(): number {
    const v = this.view.getInt32(this.pos - this.bufStart, true);
    this.pos += 4;
    return v;
  }
  takeU64(): bigint {
    const v = this.view.getBigUint64(this.pos - this.bufStart, true);
    this.pos += 8;
    return v;
  }
  takeI64(): bigint {
    const v = this.view.getBigInt64(this.pos - this.bufStart, true);
    this.pos += 8;
    return v;
  }
  /** A copy of the next `n` bytes (its own ArrayBuffer, so typed-array views of it are aligned). */
  takeCopy(n: number): Uint8Array {
    const at = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.slice(at, at + n);
  }
  /** Next `n` bytes as strict UTF-8. */
  takeUtf8(n: number, field: string): string {
    const at = this.pos - this.bufStart;
    this.pos += n;
    try {
      return utf8KeepBom.decode(this.buf.subarray(at, at + n));
    } catch {
      throw new BitsmithError(`string at offset ${this.pos - n} is not valid UTF-8`, { file: this.source.name, field });
    }
  }
  /** Reads a GGUF string: u64 byte length, then UTF-8 bytes. */
  async string(field: string): Promise<string> {
    await this.need(8, field);
    const n = this.lengthWithin(this.takeU64(), 1, field, "string length");
    await this.need(n, field);
    return this.takeUtf8(n, field);
  }

  /**
   * Converts a u64 count read from the file to a number, failing when `count` items of at least `minItemBytes`
   * each cannot fit in the rest of the file (this is what stops a 2^63 length before any allocation).
   */
  lengthWithin(count: bigint, minItemBytes: number, field: string, what: string): number {
    if (count * BigInt(minItemBytes) > BigInt(this.remaining)) {
      throw new BitsmithError(`${what} ${count} exceeds the ${this.remaining} bytes left in the file`, { file: this.source.name, field });
    }
    return Number(count);
  }
}
