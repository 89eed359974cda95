/** Perplexity of stories260K-f32 with llama-perplexity's protocol, -c 128 and -c 256 (see reference-perplexity.ts). */
import { test } from "node:test";
import { hasSharedData } from "../helpers/paths.js";
import assert from "node:assert/strict";
import { LlamaEngine } from "../../src/engine/index.js";
import { evaluatePerplexity } from "../../src/eval/index.js";
import { openStories, perplexityTokens, readF64, readJson } from "../engine/reference-data.js";
import { checkAgainstExact, fourDigits } from "./reference-perplexity.js";

test("stories260K-f32 perplexity matches llama.cpp's exact f32 runs", { skip: !hasSharedData && "shared reference data not found" }, () => checkAgainstExact("f32"));

test("with an fp16 KV cache, per-token NLL and PPL follow llama-perplexity -fa off", { skip: !hasSharedData && "shared reference data not found" }, async () => {
  const model = await openStories("f32");
  const engine = await LlamaEngine.create(model, { kvCacheType: "f16" });
  const r = await evaluatePerplexity(engine, perplexityTokens(), { ctx: 128, bosId: 1 });
  await model.close();
  const nll = readF64("perplexity", "ts-head20k.f32.c128.b128faoff.nll.f64");
  assert.equal(r.nll.length, nll.length);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < nll.length; i++) {
    const d = Math.abs(r.nll[i]! - nll[i]!);
    max = Math.max(max, d);
    sum += d;
  }
  assert.ok(sum / nll.length < 5e-4 && max < 0.03, `NLL differences: mean ${sum / nll.length}, max ${max}`);
  const published = readJson("perplexity", "perplexity.json").results.find((x: any) => x.model === "f32" && x.n_ctx === 128 && x.extra_args.join(" ") === "-fa off");
  assert.equal(fourDigits(r.ppl), fourDigits(published.final_estimate_ppl));
  assert.equal(r.pplError.toFixed(4), published.final_estimate_err.toFixed(4));
});
