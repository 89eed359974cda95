/**
 * Random-access byte input and sequential byte output, independent of Node so the core runs in browsers.
 * Readers ask for byte ranges; nothing forces a whole file into memory.
 */
import { BitsmithError } from "./errors.js";

export interface ByteSource {
  /** A name for messages: a path, URL or label. */
  readonly name: string;
  /** Total size in bytes. */
  readonly size: number;
  /** Reads exactly `length` bytes at `offset`; throws if the range is outside the source. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}

export interface ByteSink {
  readonly name: string;
  /** Bytes written so far. */
  readonly position: number;
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the output visible (e.g. renames the temporary file into place). */
  commit(): Promise<void>;
  /** Discards everything written; the destination is left as it was. */
  abort(): Promise<void>;
}

/** Throws a clear error when [offset, offset+length) is not inside a source of `size` bytes. */
export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new BitsmithError(`read of ${length} bytes at offset ${offset} is outside the file (${size} bytes): truncated or corrupt`, { file: name });
  }
}

export class MemoryByteSource implements ByteSource {
  readonly size: number;
  constructor(readonly bytes: Uint8Array, readonly name = "<memory>") {
    this.size = bytes.length;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
}

/** A ByteSource over a browser Blob or File. */
export class BlobByteSource implements ByteSource {
  readonly size: number;
  constructor(private readonly blob: Blob, readonly name = "<blob>") {
    this.size = blob.size;
  }
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    return new Uint8Array(await this.blob.slice(offset, offset + length).arrayBuffer());
  }
}

/** Collects output in memory; used by the browser and by tests. */
export class MemoryByteSink implements ByteSink {
  private chunks: Uint8Array[] = [];
  position = 0;
  committed = false;
  constructor(readonly name = "<memory>") {}
  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk.slice());
    this.position += chunk.length;
  }
  async commit(): Promise<void> {
    this.committed = true;
  }
  async abort(): Promise<void> {
    this.chunks = [];
    this.position = 0;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.position);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Opens named files: how a multi-file format (sharded safetensors, split GGUF, HF directory) reaches its parts. */
export interface FileSystemLike {
  open(path: string): Promise<ByteSource>;
  exists(path: string): Promise<boolean>;
  /** Creates a sink whose output appears at `path` only on commit. */
  create(path: string): Promise<ByteSink>;
  readText(path: string): Promise<string>;
  /** Lists entry names of a directory. */
  list(path: string): Promise<string[]>;
  isDirectory(path: string): Promise<boolean>;
  /** Creates a directory (and parents). */
  mkdir(path: string): Promise<void>;
  join(...parts: string[]): string;
  dirname(path: string): string;
  basename(path: string): string;
}

/** Decodes UTF-8 strictly, so a corrupt header fails instead of turning into replacement characters. */
export const utf8 = new TextDecoder("utf-8", { fatal: true });
/**
 * The same, but a leading U+FEFF is kept: vocabulary entries are whole strings, and Llama's vocabulary has a token
 * that is exactly U+FEFF, which the default decoder would turn into "".
 */
export const utf8KeepBom = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export const utf8Encoder = new TextEncoder();
