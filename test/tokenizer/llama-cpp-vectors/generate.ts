/**
 * Writes vectors.json beside this file: what llama.cpp itself (the build bundled with node-llama-cpp, a dev
 * dependency) makes of a fixed set of strings, for every byte-level BPE pre-tokenizer family (the GPT-2 test
 * vocabulary with `tokenizer.ggml.pre` changed) and for the SentencePiece test vocabularies. Per string:
 * common_tokenize(add_special = false, parse_special = false and true) and llama_detokenize(remove_special =
 * false, unparse_special = false / true) of those ids. Not a test: run by hand after changing the inputs,
 *   node dist/test/tokenizer/llama-cpp-vectors/generate.js   (from the repository root)
 * The inputs are generated from a fixed seed, so the file only changes when this script does.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { getLlama } from "node-llama-cpp";
import { SeededRandom } from "../../../src/core/index.js";
import { GgufWriter, openGgufModel } from "../../../src/formats/gguf/index.js";
import { AtomicFileSink, nodeFileSystem } from "../../../src/node/fs.js";
import { FIXTURES, REFERENCE } from "../../helpers/paths.js";

export interface VectorCase {
  /** Token ids, space-separated (parse_special = false). */
  ids: string;
  /** With parse_special = true, when different. */
  idsSpecial?: string;
  /** llama_detokenize(ids, unparse_special = false), when different from the input. */
  text?: string;
  /** llama_detokenize(idsSpecial ?? ids, unparse_special = true), when different from the input. */
  textSpecial?: string;
}

export interface VectorFile {
  description: string;
  inputs: string[];
  vocabularies: { file: string; pre?: string; cases: VectorCase[] }[];
}

const GPT2_VOCAB = "llama.cpp-vocab-gguf/ggml-vocab-gpt-2.gguf";
/** One name per expression list / flag combination in pre-tokenizers.ts. */
const PRE_NAMES = [
  "default", "gpt-2", "llama-bpe", "dbrx", "chatglm-bpe", "deepseek-llm", "deepseek-coder", "deepseek-v3",
  "falcon", "starcoder", "command-r", "qwen2", "stablelm2", "tekken", "gpt-4o", "bloom", "viking",
];
const SPM_VOCABS = ["llama.cpp-vocab-gguf/ggml-vocab-llama-spm.gguf", "llama.cpp-vocab-gguf/ggml-vocab-phi-3.gguf"];

/** Pieces the random strings are made of: every character class the splitters distinguish, and special tokens. */
const POOL = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
  " ", " ", " ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u0085", "\u000b", "\u000c", "\u001c",
  "'s", "'S", "'ll", "'Re", "'", "\u2019", "!", ".", ",", "?", "~", "$", "+", "<", "=", ">", "^", "`", "|", "-", "_",
  "(", ")", "[", "]", "{", "}", "\\", "/", "@", "#", "%", "&", "*", ":", ";", '"',
  "é", "É", "ß", "ø", "ñ", "ü", "e\u0301", "\u0300", "Ω", "ω", "Я", "я", "δ", "你", "好", "世界", "한국어", "日本語",
  "ｶ", "カタカナ", "ひらがな", "٣", "²", "½", "Ⅻ", "①", "١٢", "🦙", "😀", "🚀", "👍🏽", "\u200d", "\ufeff", "\u200b",
  "€", "£", "©", "™", "→", "∑", "µ", "ǅ", "ʰ", "ﬁ", "Ａ", "ｚ", "！", "。", "、", "…", "‘", "“", "\u0000", "\u007f",
  "ÿ", "Ā", "Ġ", "▁", "<0x41>",
  "<s>", "</s>", " </s> ", "<unk>", "<|endoftext|>", "<|endoftext|>  ", "<|assistant|>", " <|end|>\n ", "<|user|>\n", "[PAD32011]",
];

function makeInputs(): string[] {
  const testInputs = readFileSync(path.join(FIXTURES, GPT2_VOCAB + ".inp"), "utf8").split("\n__ggml_vocab_test__\n").slice(0, -1);
  const rnd = new SeededRandom(20240601);
  const random: string[] = [];
  for (let i = 0; i < 100; i++) {
    const n = 1 + rnd.int(20);
    let s = "";
    for (let j = 0; j < n; j++) s += POOL[rnd.int(POOL.length)];
    random.push(s);
  }
  // A stretch of the TinyStories text with mojibake (UTF-8 read as cp1252 and re-encoded).
  const prose = readFileSync(path.join(REFERENCE, "text/tinystories-niklas6.txt"), "utf8").slice(43900, 44900);
  return [...testInputs, ...random, prose];
}

async function main(): Promise<void> {
  const inputs = makeInputs();
  const llama = await getLlama({ gpu: false });
  const tmp = mkdtempSync(path.join(os.tmpdir(), "bitsmith-tok-"));
  const vocabularies: VectorFile["vocabularies"] = [];
  try {
    const jobs = [...PRE_NAMES.map((pre) => ({ file: GPT2_VOCAB, pre })), ...SPM_VOCABS.map((file) => ({ file, pre: undefined }))];
    for (const { file, pre } of jobs) {
      let modelPath = path.join(FIXTURES, file);
      if (pre !== undefined) {
        const source = await openGgufModel(nodeFileSystem, modelPath);
        const writer = GgufWriter.from(source).set("tokenizer.ggml.pre", { type: 8, value: pre });
        modelPath = path.join(tmp, `vocab-${pre}.gguf`);
        await writer.write(await AtomicFileSink.create(modelPath));
        await source.close();
      }
      const model = await llama.loadModel({ modelPath, vocabOnly: true });
      const join = (ids: readonly number[]) => ids.join(" ");
      const cases = inputs.map((input): VectorCase => {
        const ids = Array.from(model.tokenize(input, false));
        const idsSpecial = Array.from(model.tokenize(input, true));
        const text = model.detokenize(ids, false);
        const textSpecial = model.detokenize(idsSpecial, true);
        return {
          ids: join(ids),
          ...(join(idsSpecial) !== join(ids) ? { idsSpecial: join(idsSpecial) } : {}),
          ...(text !== input ? { text } : {}),
          ...(textSpecial !== input ? { textSpecial } : {}),
        };
      });
      await model.dispose();
      vocabularies.push({ file, ...(pre !== undefined ? { pre } : {}), cases });
      console.log(file, pre ?? "", "done");
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await llama.dispose();
  }
  const out: VectorFile = {
    description:
      "llama.cpp's common_tokenize(add_special=false, parse_special=false/true) and llama_detokenize(remove_special=false, " +
      "unparse_special=false/true) of `inputs`, from the llama.cpp build bundled with node-llama-cpp " +
      `${JSON.parse(readFileSync("node_modules/node-llama-cpp/package.json", "utf8")).version}; written by generate.ts`,
    inputs,
    vocabularies,
  };
  writeFileSync("test/tokenizer/llama-cpp-vectors/vectors.json", JSON.stringify(out) + "\n");
}

await main();
