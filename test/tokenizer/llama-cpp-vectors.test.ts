/**
 * llama.cpp's own output for every pre-tokenizer family and the SentencePiece vocabularies, on strings that mix
 * every character class the splitters distinguish, special-token texts and mojibake prose: encode with and without
 * parse_special, decode with and without unparse_special. The vectors were produced by the llama.cpp build bundled
 * with node-llama-cpp (llama-cpp-vectors/generate.ts); the BPE families use the GPT-2 test vocabulary with
 * tokenizer.ggml.pre changed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { createTokenizer } from "../../src/tokenizer/index.js";
import { FIXTURES, hasSharedData } from "../helpers/paths.js";
import type { VectorFile } from "./llama-cpp-vectors/generate.js";
import { loadModelInfo } from "./helpers.js";

const skip = !hasSharedData && "shared data not found";
const vectors: VectorFile = JSON.parse(readFileSync("test/tokenizer/llama-cpp-vectors/vectors.json", "utf8"));
const ids = (s: string) => (s === "" ? [] : s.split(" ").map(Number));

for (const vocab of vectors.vocabularies) {
  test(`llama.cpp vectors: ${vocab.file}${vocab.pre ? ` with pre-tokenizer ${vocab.pre}` : ""}`, { skip }, async () => {
    const info = await loadModelInfo(path.join(FIXTURES, vocab.file));
    const tok = createTokenizer({ ...info.tokenizer!, pre: vocab.pre ?? info.tokenizer!.pre }, { modelName: info.name });
    const failures: string[] = [];
    vocab.cases.forEach((c, i) => {
      const input = vectors.inputs[i];
      const where = `${JSON.stringify(input).slice(0, 60)}`;
      const plain = tok.encode(input, { addSpecial: false });
      const special = tok.encode(input, { addSpecial: false, parseSpecial: true });
      if (plain.join(" ") !== c.ids) failures.push(`encode ${where}: expected ${c.ids}, got ${plain.join(" ")}`);
      if (special.join(" ") !== (c.idsSpecial ?? c.ids)) failures.push(`encode (parse_special) ${where}`);
      if (tok.decode(ids(c.ids), { unparseSpecial: false }) !== (c.text ?? input)) failures.push(`decode ${where}`);
      if (tok.decode(ids(c.idsSpecial ?? c.ids)) !== (c.textSpecial ?? input)) failures.push(`decode (unparse_special) ${where}`);
    });
    assert.deepEqual(failures, []);
  });
}

test("llama.cpp vectors cover every family and special tokens", () => {
  assert.equal(vectors.vocabularies.length, 19);
  const phi3 = vectors.vocabularies.find((v) => v.file.includes("phi-3"))!;
  assert.ok(phi3.cases.filter((c) => c.idsSpecial !== undefined).length > 20);
});
