/**
 * The two chunking protocols and the perplexity arithmetic, on a scripted model whose probabilities are known
 * in closed form: it gives the true next token logit L and every other token 0, so each NLL is
 * log(e^L + V − 1) − L exactly.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError } from "../../src/core/index.js";
import type { ForwardResult, LogitsSelection } from "../../src/engine/index.js";
import { evaluatePerplexity, planChunks } from "../../src/eval/index.js";
import type { EvalModel } from "../../src/eval/index.js";

const V = 50;

/** Knows the text: at each position it favours the token that really follows (logit L), 0 elsewhere. */
function scriptedModel(text: number[], L: number, seen: number[][] = []): EvalModel {
  return {
    vocabSize: V,
    contextLength: 64,
    async forwardBatch(sequences: readonly ArrayLike<number>[], options: { logits: LogitsSelection }): Promise<ForwardResult> {
      const from = typeof options.logits === "object" ? options.logits.from : 0;
      const rows: number[] = [];
      const result: ForwardResult = { logits: new Float32Array(0), vocabSize: V, sequences: [] };
      for (const seq of sequences) {
        const s = Array.from(seq);
        seen.push(s);
        // Find where this chunk sits in the text (its tail is never rewritten).
        let start = -1;
        for (let i = 0; i + s.length <= text.length && start < 0; i++) if (s.slice(1).every((t, j) => text[i + 1 + j] === t)) start = i;
        result.sequences.push({ row: rows.length / V, count: s.length - from, firstPosition: from });
        for (let p = from; p < s.length; p++) {
          const next = text[start + p + 1] ?? 0;
          for (let v = 0; v < V; v++) rows.push(v === next ? L : 0);
        }
      }
      result.logits = Float32Array.from(rows);
      return result;
    },
  };
}

const text = Array.from({ length: 100 }, (_, i) => (i * 7 + 3) % V);

test("llama protocol: floor(n/ctx) chunks, BOS over each chunk's first token, positions ctx/2..ctx-2 scored", async () => {
  const chunks = planChunks(text, { ctx: 16, protocol: "llama", bosId: 1 });
  assert.equal(chunks.length, 6);
  chunks.forEach((c, i) => {
    assert.equal(c.input[0], 1);
    assert.deepEqual(Array.from(c.input.subarray(1)), text.slice(i * 16 + 1, i * 16 + 16));
    assert.equal(c.firstScored, 8);
  });
  const L = 3;
  const seen: number[][] = [];
  const r = await evaluatePerplexity(scriptedModel(text, L, seen), text, { ctx: 16, bosId: 1, sequencesPerForward: 4 });
  assert.equal(seen.length, 6);
  assert.equal(r.count, 6 * 7);
  const nll = Math.log(Math.exp(L) + V - 1) - L;
  assert.ok(Math.abs(r.meanNll - nll) < 1e-6);
  assert.ok(Math.abs(r.ppl - Math.exp(nll)) < 1e-5);
  assert.ok(r.pplError < 1e-6, "all NLLs are equal, so the ± is 0");
  assert.equal(r.runningPpl.length, 6);
  const limited = await evaluatePerplexity(scriptedModel(text, L), text, { ctx: 16, bosId: 1, maxChunks: 2 });
  assert.equal(limited.chunks, 2);
});

test("gptq protocol: plain windows, every position but the last scored, no BOS replacement", async () => {
  const chunks = planChunks(text, { ctx: 30, protocol: "gptq", bosId: 1 });
  assert.equal(chunks.length, 3);
  chunks.forEach((c, i) => {
    assert.deepEqual(Array.from(c.input), text.slice(i * 30, (i + 1) * 30));
    assert.equal(c.firstScored, 0);
  });
  const r = await evaluatePerplexity(scriptedModel(text, 0), text, { ctx: 30, protocol: "gptq" });
  assert.equal(r.count, 3 * 29);
  assert.ok(Math.abs(r.ppl - V) < 1e-4, "uniform logits: perplexity = vocabulary size");
});

test("one or several chunks per forward pass give the same numbers", async () => {
  const model = scriptedModel(text, 1.5);
  const a = await evaluatePerplexity(model, text, { ctx: 8, bosId: 1, sequencesPerForward: 1 });
  const b = await evaluatePerplexity(model, text, { ctx: 8, bosId: 1, sequencesPerForward: 5 });
  assert.deepEqual(a.nll, b.nll);
});

test("too short a text, a bad context size or one beyond the model's are errors", async () => {
  const m = scriptedModel(text, 1);
  const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => e instanceof BitsmithError && re.test(e.message));
  await rejects(evaluatePerplexity(m, text.slice(0, 63), { ctx: 32 }), /63 tokens, fewer than 64 \(llama-perplexity needs 2 × ctx = 64\)/);
  await rejects(evaluatePerplexity(m, text.slice(0, 20), { ctx: 32, protocol: "gptq" }), /fewer than 32 \(one window of 32\)/);
  await rejects(evaluatePerplexity(m, text, { ctx: 3 }), /context size 3 is too small/);
  await rejects(evaluatePerplexity(m, text, { ctx: 8, maxChunks: 0 }), /chunk count 0/);
  await rejects(evaluatePerplexity(m, Array(200).fill(1), { ctx: 100 }), /context 100 exceeds the model's trained context length 64/);
  await evaluatePerplexity(m, Array(200).fill(1), { ctx: 100, allowLongContext: true });
});
