/** Writing small whole files (configs, tokenizer files) through a FileSystemLike, each one atomically. */
import { utf8Encoder } from "./bytes.js";
import type { FileSystemLike } from "./bytes.js";

export async function writeFiles(fs: FileSystemLike, dir: string, files: Readonly<Record<string, string | Uint8Array>>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    const sink = await fs.create(fs.join(dir, name));
    try {
      await sink.write(typeof content === "string" ? utf8Encoder.encode(content) : content);
      await sink.commit();
    } catch (e) {
      await sink.abort();
      throw e;
    }
  }
}
