/**
 * Every type llama-quantize offers, made by bitsmith from a small synthetic Llama whose rows fit every block
 * size (256 wide), loads in llama.cpp (node-llama-cpp) and generates. Types that need an importance matrix get
 * one computed by bitsmith's own `imatrix`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { writeDemoModel } from "../../src/demo/demo-source.js";
import { quantizeModel } from "../../src/quantize/quantize-model.js";
import { QUANTIZE_FILE_TYPES } from "../../src/quantize/ftype.js";
import { computeImatrix } from "../../src/calibrate/imatrix.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { createModelTokenizer } from "../../src/tokenizer/index.js";
import { greedyTokens } from "../helpers/llama-cpp.js";
import { REFERENCE } from "../helpers/paths.js";

test("every llama-quantize type made by bitsmith loads and generates in llama.cpp", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-every-type-"));
  try {
    const hf = path.join(dir, "hf");
    await writeDemoModel(nodeFileSystem, hf, 3, { hiddenSize: 256, intermediateSize: 512, numLayers: 1, numHeads: 4, numKvHeads: 2, contextLength: 512 });
    const source = await openModel(nodeFileSystem, hf);
    const tokenizer = createModelTokenizer(source.info, hf);
    const text = readFileSync(path.join(REFERENCE, "text", "ts-head20k.txt"), "utf8").slice(0, 4000);
    const imatrix = await computeImatrix(await LlamaEngine.create(source), tokenizer.encode(text), { ctx: 128, bosId: tokenizer.bosId, dataset: "ts-head20k.txt" });
    for (const ft of QUANTIZE_FILE_TYPES) {
      const out = path.join(dir, `${ft.name}.gguf`);
      await quantizeModel(source, nodeFileSystem, out, { type: ft.name, imatrix });
      const tokens = await greedyTokens(out, "the little dog", 4).catch((e: Error) => assert.fail(`${ft.name}: ${e.message}`));
      assert.equal(tokens.length, 4, ft.name);
      rmSync(out);
    }
    await source.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
