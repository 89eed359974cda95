/**
 * Writing a (computed) model where the user asked: a `.gguf` file (through convertToGguf), a `.safetensors`
 * file (tensors only), or a Hugging Face directory: config.json, sharded safetensors with their index and the
 * tokenizer files (through convertToHf when the model is in GGUF naming). Every path streams one tensor at a
 * time and leaves no partial file behind.
 */
import { BitsmithError, reportingReads, silentProgress, writeFiles } from "../core/index.js";
import type { FileSystemLike, ModelSource, Progress } from "../core/index.js";
import { convertToGguf } from "../convert/to-gguf.js";
import { convertToHf } from "../convert/to-hf.js";
import { hfTokenizerFiles } from "../convert/hf-tokenizer-files.js";
import { writeSafetensors, writeShardedSafetensors } from "../formats/safetensors/index.js";

export interface ModelOutputOptions {
  /** Largest safetensors shard of a Hugging Face directory, in bytes; default: one file. */
  maxShardSize?: number;
  progress?: Progress;
  /** Label of the progress bar. */
  label?: string;
  /** Files written beside Hugging Face-named weights (tokenizer files ...); config.json comes from the model. */
  sideFiles?: Readonly<Record<string, string | Uint8Array>>;
}

const SAFETENSORS_METADATA = new Map([["format", "pt"]]);

/** mergekit's list of tokenizer files copied from the donor model (plus vocab.json, which slow GPT-2 tokenizers need). */
const TOKENIZER_FILES = [
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.json",
  "tokenizer.model",
  "added_tokens.json",
  "merges.txt",
  "vocab.json",
  "chat_template.jinja",
  "chat_template.json",
  "generation_config.json",
];

function relabeled(progress: Progress, label: string): Progress {
  return { start: (_l, total, unit) => progress.start(label, total, unit), advance: (a, d) => progress.advance(a, d), finish: () => progress.finish() };
}


async function writeHfDirectory(fs: FileSystemLike, model: ModelSource, dir: string, options: ModelOutputOptions, progress: Progress): Promise<string[]> {
  if (model.format !== "hf") {
    throw new BitsmithError("the inputs have no config.json (bare safetensors files), so no model directory can be described: write to a .safetensors file", { file: dir });
  }
  const files = { "config.json": JSON.stringify(Object.fromEntries(model.metadata), null, 2), ...options.sideFiles };
  progress.start("", model.tensors.reduce((a, t) => a + t.byteLength, 0), "B");
  await fs.mkdir(dir);
  const written = await writeShardedSafetensors(fs, dir, reportingReads(model.tensors, progress), {
    maxShardSize: options.maxShardSize ?? Number.MAX_SAFE_INTEGER,
    metadata: SAFETENSORS_METADATA,
  });
  // Text files last: a directory with config.json but no weights must never be left behind.
  await writeFiles(fs, dir, files);
  progress.finish();
  return [...written, ...Object.keys(files)];
}

/** Writes `model` to `out`: `.gguf`, `.safetensors`, or (anything else) a Hugging Face directory. */
export async function writeModelOutput(fs: FileSystemLike, model: ModelSource, out: string, options: ModelOutputOptions = {}): Promise<string[]> {
  const progress = relabeled(options.progress ?? silentProgress, options.label ?? "write");
  if (out.endsWith(".gguf")) return (await convertToGguf(model, fs, out, { progress })).files;
  if (out.endsWith(".safetensors")) {
    progress.start("", model.tensors.reduce((a, t) => a + t.byteLength, 0), "B");
    await writeSafetensors(fs, out, reportingReads(model.tensors, progress), SAFETENSORS_METADATA);
    progress.finish();
    return [out];
  }
  if (model.format === "gguf" || model.format === "llama2c") return convertToHf(model, fs, out, { maxShardSize: options.maxShardSize, progress });
  return writeHfDirectory(fs, model, out, options, progress);
}

async function readBytes(fs: FileSystemLike, path: string): Promise<Uint8Array> {
  const src = await fs.open(path);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close?.();
  }
}

/**
 * The tokenizer files a Hugging Face output takes from `donor`: copied from its directory (a chat template
 * replaces the donor's in tokenizer_config.json), or written from its vocabulary when it is not a directory.
 */
export async function tokenizerSideFiles(fs: FileSystemLike, donor: ModelSource, chatTemplate?: string): Promise<Record<string, string | Uint8Array>> {
  if (donor.format !== "hf") {
    const tok = donor.info.tokenizer;
    return tok ? hfTokenizerFiles(chatTemplate === undefined ? tok : { ...tok, chatTemplate }) : {};
  }
  const files: Record<string, string | Uint8Array> = {};
  for (const name of TOKENIZER_FILES) {
    const path = fs.join(donor.name, name);
    if (!(await fs.exists(path))) continue;
    if (chatTemplate !== undefined && name.startsWith("chat_template.")) continue;
    files[name] = name.endsWith(".model") ? await readBytes(fs, path) : await fs.readText(path);
  }
  if (chatTemplate !== undefined) {
    const text = files["tokenizer_config.json"] as string | undefined;
    let config: unknown = {};
    try {
      if (text !== undefined) config = JSON.parse(text);
    } catch (e) {
      throw new BitsmithError(`invalid JSON: ${(e as Error).message}`, { file: fs.join(donor.name, "tokenizer_config.json") });
    }
    files["tokenizer_config.json"] = JSON.stringify({ ...(config as object), chat_template: chatTemplate }, null, 2);
  }
  return files;
}
