/** Loading the tokenizer test data: GGUF vocabularies and llama.cpp's test-tokenizer-0 vectors. */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { ModelInfo } from "../../src/core/index.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { FIXTURES } from "../helpers/paths.js";

export const VOCAB_DIR = path.join(FIXTURES, "llama.cpp-vocab-gguf");

const loaded = new Map<string, Promise<ModelInfo>>();

/** The ModelInfo of a GGUF file, read once per test process. */
export function loadModelInfo(file: string): Promise<ModelInfo> {
  let info = loaded.get(file);
  if (info === undefined) {
    info = openGgufModel(nodeFileSystem, file).then(async (source) => {
      await source.close();
      return source.info;
    });
    loaded.set(file, info);
  }
  return info;
}

export interface TokenizerVector {
  input: string;
  ids: number[];
}

/**
 * llama.cpp's tests/test-tokenizer-0 format: `X.inp` holds the inputs, each followed by "\n__ggml_vocab_test__\n";
 * line i of `X.out` holds the ids of input i, space-separated, tokenized with add_special = false and
 * parse_special = false (so without BOS).
 */
export function readTokenizerVectors(vocabFile: string): TokenizerVector[] {
  const separator = "\n__ggml_vocab_test__\n";
  const raw = readFileSync(vocabFile + ".inp", "utf8");
  const inputs: string[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(separator, pos);
    if (next < 0) {
      inputs.push(raw.slice(pos));
      break;
    }
    inputs.push(raw.slice(pos, next));
    pos = next + separator.length;
  }
  const lines = readFileSync(vocabFile + ".out", "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  if (lines.length !== inputs.length) throw new Error(`${vocabFile}: ${inputs.length} inputs but ${lines.length} outputs`);
  return inputs.map((input, i) => {
    const line = lines[i].trim();
    return { input, ids: line === "" ? [] : line.split(" ").map(Number) };
  });
}
