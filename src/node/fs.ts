/**
 * Node implementations of the core's byte interfaces: files read by range through a file handle, and output
 * written to a temporary file beside the destination and renamed into place on commit (a failed run leaves
 * nothing behind).
 */
import { open, rename, rm, stat, readFile, readdir, mkdir } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import * as path from "node:path";
import { BitsmithError, checkRange } from "../core/index.js";
import type { ByteSink, ByteSource, FileSystemLike } from "../core/index.js";

export class FileByteSource implements ByteSource {
  private constructor(
    readonly name: string,
    readonly size: number,
    private readonly handle: FileHandle,
  ) {}

  static async open(file: string): Promise<FileByteSource> {
    let handle: FileHandle;
    try {
      handle = await open(file, "r");
    } catch (e) {
      throw new BitsmithError(`cannot open: ${(e as Error).message}`, { file });
    }
    const st = await handle.stat();
    if (!st.isFile()) {
      await handle.close();
      throw new BitsmithError("not a regular file", { file });
    }
    return new FileByteSource(file, st.size, handle);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      // Node caps a single read at 2 GiB; loop for larger ranges.
      const { bytesRead } = await this.handle.read(buf, done, Math.min(length - done, 1 << 30), offset + done);
      if (bytesRead === 0) throw new BitsmithError(`unexpected end of file at offset ${offset + done}`, { file: this.name });
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

let tmpCounter = 0;

/** Writes to `<dest>.<pid>.<n>.tmp` and renames to `dest` on commit. */
export class AtomicFileSink implements ByteSink {
  position = 0;
  private constructor(
    readonly name: string,
    private readonly tmp: string,
    private readonly handle: FileHandle,
  ) {}

  static async create(dest: string): Promise<AtomicFileSink> {
    const tmp = `${dest}.${process.pid}.${tmpCounter++}.tmp`;
    try {
      return new AtomicFileSink(dest, tmp, await open(tmp, "w"));
    } catch (e) {
      throw new BitsmithError(`cannot create output: ${(e as Error).message}`, { file: dest });
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      const { bytesWritten } = await this.handle.write(chunk, done, chunk.length - done);
      done += bytesWritten;
    }
    this.position += chunk.length;
  }

  async commit(): Promise<void> {
    await this.handle.close();
    await rename(this.tmp, this.name);
  }

  async abort(): Promise<void> {
    await this.handle.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

export const nodeFileSystem: FileSystemLike = {
  open: (p) => FileByteSource.open(p),
  async exists(p) {
    try {
      await stat(p);
      return true;
    } catch {
      return false;
    }
  },
  create: (p) => AtomicFileSink.create(p),
  async readText(p) {
    try {
      return await readFile(p, "utf8");
    } catch (e) {
      throw new BitsmithError(`cannot read: ${(e as Error).message}`, { file: p });
    }
  },
  list: (p) => readdir(p),
  async isDirectory(p) {
    try {
      return (await stat(p)).isDirectory();
    } catch {
      return false;
    }
  },
  async mkdir(p) {
    await mkdir(p, { recursive: true });
  },
  join: (...parts) => path.join(...parts),
  dirname: (p) => path.dirname(p),
  basename: (p) => path.basename(p),
};
