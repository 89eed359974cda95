/**
 * The tokenizer.model bitsmith writes, read by Google's own sentencepiece library (Debian's python3-sentencepiece),
 * must tokenize the reference text exactly as llama.cpp did. Skipped where that library is not installed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { openGgufModel } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { convertToHf } from "../../src/convert/to-hf.js";
import { REFERENCE } from "../helpers/paths.js";

/** A Python that has sentencepiece: the PATH's, or Debian's (where apt installs python3-sentencepiece). */
const python = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import sentencepiece"]).status === 0);

test("sentencepiece loads bitsmith's tokenizer.model and tokenizes like llama.cpp", { skip: python === undefined && "python3-sentencepiece not installed" }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-spm-"));
  try {
    const model = await openGgufModel(nodeFileSystem, path.join(REFERENCE, "models", "stories260K-f32.gguf"));
    await convertToHf(model, nodeFileSystem, dir);
    await model.close();
    const ref = JSON.parse(readFileSync(path.join(REFERENCE, "tokenizer", "ts-head20k.first2000.json"), "utf8"));
    const script = "import sys, json, sentencepiece as s; p = s.SentencePieceProcessor(model_file=sys.argv[1]); print(json.dumps([p.bos_id()] + p.encode(sys.stdin.read())))";
    const r = spawnSync(python!, ["-c", script, path.join(dir, "tokenizer.model")], { input: ref.text, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ref.tokens);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
