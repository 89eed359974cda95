/**
 * Tokenizer speed on the 197 KB TinyStories text: encode and decode with the stories260K SentencePiece
 * vocabulary (512 tokens, the text llama-perplexity would read), the 32000-token Llama 2 vocabulary, GPT-2's
 * byte-level BPE, and the Hugging Face pipeline on the same GPT-2 vocabulary. Milliseconds of process CPU time,
 * best of three (the first, untimed, run warms up the JIT and the Unicode tables).
 * Run directly from the repository root: node dist/bench/tokenizer.js
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { openGgufModel } from "../src/formats/gguf/index.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { createHfTokenizer, createModelTokenizer } from "../src/tokenizer/index.js";
import type { Tokenizer } from "../src/tokenizer/index.js";

const DATA = process.env.BITSMITH_SHARED_DATA ?? path.resolve("../shared/data");

function cpuMs(f: () => void): number {
  f();
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    const t = process.cpuUsage();
    f();
    const used = process.cpuUsage(t);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

export async function benchTokenizers(): Promise<Record<string, number>> {
  const text = readFileSync(path.join(DATA, "reference/text/tinystories-niklas6.txt"), "utf8");
  const gguf = async (file: string) => {
    const source = await openGgufModel(nodeFileSystem, path.join(DATA, file));
    await source.close();
    return createModelTokenizer(source.info, file);
  };
  const readJson = (file: string) => JSON.parse(readFileSync(path.join(DATA, file), "utf8"));
  const onnx = "fixtures/onnxruntime-genai-tiny-random-gpt2-fp32";
  const tokenizers: [string, Tokenizer][] = [
    ["stories260K", await gguf("reference/models/stories260K-f32.gguf")],
    ["llama2", await gguf("fixtures/llama.cpp-vocab-gguf/ggml-vocab-llama-spm.gguf")],
    ["gpt2", await gguf("fixtures/llama.cpp-vocab-gguf/ggml-vocab-gpt-2.gguf")],
    ["gpt2_hf", createHfTokenizer(readJson(`${onnx}/tokenizer.json`), readJson(`${onnx}/tokenizer_config.json`))],
  ];
  const out: Record<string, number> = { text_bytes: new TextEncoder().encode(text).length };
  for (const [name, tok] of tokenizers) {
    let ids: number[] = [];
    out[`${name}.encode_ms`] = cpuMs(() => (ids = tok.encode(text)));
    out[`${name}.tokens`] = ids.length;
    out[`${name}.decode_ms`] = cpuMs(() => tok.decode(ids));
  }
  return out;
}

if (process.argv[1]?.endsWith("tokenizer.js")) {
  const result = await benchTokenizers();
  console.log(JSON.stringify(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Math.round(v * 10) / 10])), null, 1));
}
