/**
 * An in-memory FileSystemLike: the browser's stand-in for a disk, and how bitsmith serves its generated demo
 * checkpoint through the same readers as a real directory.
 */
import { BitsmithError } from "./errors.js";
import { MemoryByteSink, MemoryByteSource, utf8, utf8Encoder } from "./bytes.js";
import type { ByteSink, ByteSource, FileSystemLike } from "./bytes.js";

function normalize(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") parts.pop();
    else parts.push(p);
  }
  return parts.join("/");
}

export class MemoryFileSystem implements FileSystemLike {
  private readonly files = new Map<string, Uint8Array>();

  /** Adds or replaces a file. */
  put(path: string, content: Uint8Array | string): void {
    this.files.set(normalize(path), typeof content === "string" ? utf8Encoder.encode(content) : content);
  }

  get(path: string): Uint8Array | undefined {
    return this.files.get(normalize(path));
  }

  async open(path: string): Promise<ByteSource> {
    const bytes = this.get(path);
    if (!bytes) throw new BitsmithError("no such file", { file: path });
    return new MemoryByteSource(bytes, path);
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(normalize(path)) || (await this.isDirectory(path));
  }

  async create(path: string): Promise<ByteSink> {
    const sink = new MemoryByteSink(path);
    const commit = sink.commit.bind(sink);
    sink.commit = async () => {
      await commit();
      this.put(path, sink.bytes());
    };
    return sink;
  }

  async readText(path: string): Promise<string> {
    const bytes = this.get(path);
    if (!bytes) throw new BitsmithError("no such file", { file: path });
    return utf8.decode(bytes);
  }

  async list(path: string): Promise<string[]> {
    const dir = normalize(path);
    const prefix = dir === "" ? "" : dir + "/";
    const names = new Set<string>();
    for (const f of this.files.keys()) if (f.startsWith(prefix)) names.add(f.slice(prefix.length).split("/")[0]!);
    return [...names].sort();
  }

  async isDirectory(path: string): Promise<boolean> {
    const dir = normalize(path);
    if (dir === "") return true;
    for (const f of this.files.keys()) if (f.startsWith(dir + "/")) return true;
    return false;
  }

  async mkdir(): Promise<void> {}

  join(...parts: string[]): string {
    return normalize(parts.join("/"));
  }
  dirname(path: string): string {
    const n = normalize(path);
    const i = n.lastIndexOf("/");
    return i < 0 ? "." : n.slice(0, i);
  }
  basename(path: string): string {
    const n = normalize(path);
    return n.slice(n.lastIndexOf("/") + 1);
  }
}
