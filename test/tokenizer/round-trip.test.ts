/** decode(encode(text)) is the text, for ASCII and Unicode samples, on every vocabulary type. */
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { createTokenizer } from "../../src/tokenizer/index.js";
import { REFERENCE, hasSharedData } from "../helpers/paths.js";
import { loadModelInfo, VOCAB_DIR } from "./helpers.js";

const skip = !hasSharedData && "shared data not found";

// No space before ?!., and no " '": GPT-2-style vocabularies' clean_spaces would (deliberately) remove it.
const SAMPLES = [
  "The quick brown fox jumps over the lazy dog.",
  "  leading and trailing  ",
  "tabs\tand\nnew\r\nlines\n\n",
  "numbers 1234567890 and 3.14159",
  "Grüße aus Köln, façade, naïve, Ærøskøbing",
  "Привет, мир! Γειά σου κόσμε.",
  "日本語のテキストと中文和한국어",
  "emoji 🦙🚀 with ZWJ 👩‍👩‍👧 and skin 👍🏽",
  "combining e\u0301 and precomposed é",
  "math ∑ x² ≤ ∞, arrows → ⇒, currency €£¥",
  "\u0000 control \u0007 chars \u007f",
  "nbsp\u00a0ideographic\u3000space",
  "\ufeffBOM at the start",
];

const vocabularies: [string, string, string | undefined][] = [
  ["stories260K (SentencePiece, mostly byte fallback)", path.join(REFERENCE, "models/stories260K-f32.gguf"), undefined],
  ["llama-spm", path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf"), undefined],
  ["phi-3", path.join(VOCAB_DIR, "ggml-vocab-phi-3.gguf"), undefined],
  ["gpt-2", path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"), undefined],
  ["gpt-2 vocabulary, llama3 pre-tokenizer", path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"), "llama-bpe"],
  ["gpt-2 vocabulary, qwen2 pre-tokenizer", path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"), "qwen2"],
  ["gpt-2 vocabulary, deepseek-llm pre-tokenizer", path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"), "deepseek-llm"],
];

for (const [label, file, pre] of vocabularies) {
  test(`round trip: ${label}`, { skip }, async () => {
    const info = await loadModelInfo(file);
    const tok = createTokenizer({ ...info.tokenizer!, pre: pre ?? info.tokenizer!.pre }, { modelName: info.name });
    for (const text of SAMPLES) {
      const ids = tok.encode(text, { addSpecial: false });
      assert.equal(tok.decode(ids), text, JSON.stringify(text));
      // Pieces of multi-byte characters can be partial UTF-8, so only ASCII pieces join up to the text;
      // SentencePiece pieces include the prefix space that decode removes.
      if (/^[\x00-\x7f]*$/.test(text)) {
        const joined = ids.map((id) => tok.tokenToPiece(id)).join("");
        assert.equal(joined, info.tokenizer!.model === "llama" ? " " + text : text, JSON.stringify(text));
      }
    }
  });
}
