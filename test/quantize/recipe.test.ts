/**
 * The per-tensor type choice against llama-quantize's own results on stories260K (reference/models/models.json:
 * every tensor's type, the fallbacks it logged, the default recipes that failed) and its documented flags.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import "../../src/codecs/index.js";
import { BitsmithError } from "../../src/core/index.js";
import { openModel } from "../../src/model/open-model.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { openGgufModel, getNumber } from "../../src/formats/gguf/index.js";
import { readImatrix } from "../../src/formats/imatrix/index.js";
import { planModelQuantization } from "../../src/quantize/quantize-model.js";
import { parseQuantizeFileType, QUANTIZE_FILE_TYPES } from "../../src/quantize/ftype.js";
import { compareWeightNames } from "../../src/quantize/tensor-order.js";
import { F32_GGUF, IMATRIX_GGUF, referenceQuantizations } from "./reference-models.js";
import { writeSyntheticLlama } from "./synthetic-model.js";

test("every reference quantization: the same type for each tensor, the same fallbacks, in llama-quantize's order", async () => {
  const src = await openModel(nodeFileSystem, F32_GGUF);
  try {
    for (const ref of referenceQuantizations()) {
      const imatrix = ref.imatrixArg ? await readImatrix(nodeFileSystem, IMATRIX_GGUF) : undefined;
      const plan = planModelQuantization(src, { type: ref.type, tensorTypes: ref.tensorTypes, imatrix });
      const label = `${ref.type}${imatrix ? " + imatrix" : ""}`;
      assert.deepEqual(new Map(plan.tensors.map((t) => [t.name, t.to.name])), ref.tensorTypesByName, label);
      if (ref.fallbacks) {
        const fallbacks = plan.tensors.filter((t) => t.wanted).map((t) => ({ tensor: t.name, wanted: t.wanted!.name, got: t.to.name }));
        const expected = ref.fallbacks.map((f) => ({ tensor: f.tensor, wanted: f.wanted.toUpperCase(), got: f.got.toUpperCase() }));
        assert.deepEqual(fallbacks, expected, `${label}: fallbacks`);
      }
      const reference = await openGgufModel(nodeFileSystem, ref.file);
      assert.deepEqual(
        plan.tensors.map((t) => t.name),
        reference.tensors.map((t) => t.name),
        `${label}: tensor order`,
      );
      assert.equal(plan.ftype, getNumber(reference.metadata, "general.file_type"), `${label}: general.file_type`);
      assert.equal(plan.bytesOut, reference.tensors.reduce((a, t) => a + t.byteLength, 0), `${label}: size`);
      await reference.close();
    }
  } finally {
    await src.close();
  }
});

test("the default recipes llama-quantize could not run fail the same way, naming the tensor and the type", async () => {
  const src = await openModel(nodeFileSystem, F32_GGUF);
  try {
    const failing = referenceQuantizations().filter((r) => r.defaultRecipeError);
    assert.ok(failing.length >= 6);
    for (const ref of failing) {
      // llama.cpp: "no tensor type fallback is defined for type q8_0" on blk.0.ffn_down.weight (172 columns)
      const type = /for type (\S+)/.exec(ref.defaultRecipeError!)![1]!.toUpperCase();
      assert.throws(
        () => planModelQuantization(src, { type: ref.type }),
        (e: unknown) => e instanceof BitsmithError && e.message.includes('"blk.0.ffn_down.weight"') && e.message.includes(`no fallback type for ${type}`),
        ref.type,
      );
    }
  } finally {
    await src.close();
  }
});

test("tensors are ordered like llama.cpp's loader: outside blocks first, then blocks by number", () => {
  const names = ["blk.10.attn_q.weight", "output.weight", "blk.2.ffn_up.weight", "blk.2.attn_k.weight", "token_embd.weight", "output_norm.weight"];
  assert.deepEqual([...names].sort(compareWeightNames), [
    "output.weight",
    "output_norm.weight",
    "token_embd.weight",
    "blk.2.attn_k.weight",
    "blk.2.ffn_up.weight",
    "blk.10.attn_q.weight",
  ]);
});

test("type names: llama-quantize's list, aliases, ids, and an error listing them for unknown names", () => {
  assert.equal(parseQuantizeFileType("q4_k_m").ftype, 15);
  assert.equal(parseQuantizeFileType("Q4_K").recipe, "Q4_K_M");
  assert.equal(parseQuantizeFileType("7").name, "Q8_0");
  assert.equal(parseQuantizeFileType("0").name, "F32");
  assert.equal(parseQuantizeFileType("COPY").onlyCopy, true);
  for (const name of ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q2_K_S", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "IQ1_S", "IQ1_M", "IQ4_NL", "IQ4_XS", "TQ1_0", "TQ2_0", "MXFP4_MOE", "F16", "BF16", "F32", "COPY"]) {
    assert.ok(QUANTIZE_FILE_TYPES.some((t) => t.name === name), name);
  }
  assert.throws(() => parseQuantizeFileType("Q9_9"), /unknown quantization type "Q9_9"; valid: .*IQ2_XXS.*Q4_K_M/);
});

test("the documented flags: --pure, --leave-output-tensor, --output-tensor-type, --token-embedding-type, --tensor-type", async () => {
  const src = await openModel(nodeFileSystem, F32_GGUF);
  try {
    const types = (opts: Parameters<typeof planModelQuantization>[1]) => new Map(planModelQuantization(src, opts).tensors.map((t) => [t.name, t.to.name]));
    const base = { type: "Q4_0", tensorTypes: ["ffn_down=f16"] };
    // The recipe raises output.weight (to Q6_K, which falls back to Q8_0); --pure does not.
    assert.equal(types(base).get("output.weight"), "Q8_0");
    assert.equal(types({ ...base, pure: true }).get("output.weight"), "Q4_0");
    assert.equal(types({ ...base, leaveOutputTensor: true }).get("output.weight"), "F32");
    assert.equal(types({ ...base, outputTensorType: "q5_1" }).get("output.weight"), "Q5_1");
    assert.equal(types({ ...base, tokenEmbeddingType: "F16" }).get("token_embd.weight"), "F16");
    // The first matching pattern wins; a pattern is a regular expression searched anywhere in the name.
    const t = types({ type: "Q4_0", tensorTypes: ["blk\\.[0-2]\\.ffn_down=f16", "ffn_down=bf16", "ffn_up=q8_0"] });
    assert.equal(t.get("blk.1.ffn_down.weight"), "F16");
    assert.equal(t.get("blk.3.ffn_down.weight"), "BF16");
    assert.equal(t.get("blk.3.ffn_up.weight"), "Q8_0");
    // An override to a type without a fallback fails on 172 columns, as llama-quantize does.
    assert.throws(() => types({ type: "Q4_0", tensorTypes: ["ffn_down=q8_0"] }), /"blk\.0\.ffn_down\.weight".*no fallback type for Q8_0/);
    assert.throws(() => types({ type: "Q4_0", tensorTypes: ["ffn_down"] }), /--tensor-type: "ffn_down" is not NAME=TYPE/);
    assert.throws(() => types({ type: "Q4_0", tensorTypes: ["ffn_down=q7"] }), /unknown tensor type "q7"; valid: .*Q4_K/);
  } finally {
    await src.close();
  }
});

test("i-quants that need an importance matrix are refused without one, naming the tensor", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-recipe-"));
  try {
    const file = path.join(dir, "m.gguf");
    await writeSyntheticLlama(file, { layers: 2, hidden: 256, ffn: 512, heads: 4, kvHeads: 4, vocab: 256 });
    const m = await openModel(nodeFileSystem, file);
    try {
      assert.throws(() => planModelQuantization(m, { type: "IQ2_XXS" }), /tensor "blk\.0\.attn_k\.weight": IQ2_XXS in IQ2_XXS needs an importance matrix/);
      const dry = planModelQuantization(m, { type: "IQ2_XXS", dryRun: true });
      assert.ok(dry.problems.length > 0 && dry.problems.every((p) => p.includes("needs an importance matrix")));
      // output.weight and token_embd.weight never need one (Q5_K and Q2_K here).
      const types = new Map(dry.tensors.map((t) => [t.name, t.to.name]));
      assert.equal(types.get("output.weight"), "Q5_K");
      assert.equal(types.get("token_embd.weight"), "Q2_K");
    } finally {
      await m.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
