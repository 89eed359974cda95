/** A text file as llama.cpp's tools read a -f file: the bytes as UTF-8, minus one trailing newline. */
import { BitsmithError } from "../core/index.js";
import { nodeFileSystem } from "../node/fs.js";

export async function readEvalText(path: string): Promise<string> {
  const text = await nodeFileSystem.readText(path);
  const trimmed = text.endsWith("\n") ? text.slice(0, -1) : text;
  if (trimmed.length === 0) throw new BitsmithError("the text file is empty", { file: path });
  return trimmed;
}
