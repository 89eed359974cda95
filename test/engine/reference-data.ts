/** Loaders for llama.cpp's reference files used by the engine and evaluation tests. */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { REFERENCE } from "../helpers/paths.js";
import "../../src/codecs/index.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import type { GgufModel } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";

export const ref = (...parts: string[]) => path.join(REFERENCE, ...parts);

export function openStories(variant: string): Promise<GgufModel> {
  return openGgufModel(nodeFileSystem, ref("models", `stories260K-${variant}.gguf`));
}

export function readJson<T = any>(...parts: string[]): T {
  return JSON.parse(readFileSync(ref(...parts), "utf8")) as T;
}

export function readF32(...parts: string[]): Float32Array {
  const b = readFileSync(ref(...parts));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

export function readF64(...parts: string[]): Float64Array {
  const b = readFileSync(ref(...parts));
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** The 9718 tokens llama-perplexity evaluates (ts-head20k.txt with BOS). */
export const perplexityTokens = (): number[] => readJson("perplexity", "ts-head20k.tokens.json").tokens;

/** The 128-token sequence of the logits files. */
export const logitsTokens = (): number[] => readJson("logits", "ts-head20k.f32-kvf32-nofa.tokens.json").tokens;
