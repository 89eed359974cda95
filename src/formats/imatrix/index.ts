/** llama.cpp importance matrices: read either file layout, write either, convert between them. */
import type { FileSystemLike } from "../../core/index.js";
import { readGguf } from "../gguf/index.js";
import { readImatrixDat } from "./dat.js";
import { readImatrixGguf } from "./gguf.js";
import type { Imatrix } from "./imatrix.js";

export * from "./imatrix.js";
export { readImatrixDat, encodeImatrixDat } from "./dat.js";
export { readImatrixGguf, imatrixGgufWriter } from "./gguf.js";

/** Reads an imatrix file of either layout, recognised by its bytes (GGUF magic or not). */
export async function readImatrix(fs: FileSystemLike, path: string): Promise<Imatrix> {
  const source = await fs.open(path);
  try {
    const head = await source.read(0, Math.min(4, source.size));
    const isGguf = String.fromCharCode(...head) === "GGUF";
    return isGguf ? await readImatrixGguf(await readGguf(source)) : await readImatrixDat(source);
  } finally {
    await source.close?.();
  }
}
