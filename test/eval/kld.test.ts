/**
 * KL divergence: the accumulator against the textbook formula, a model against itself, and the compact base
 * file against running the base model alongside (stories260K Q4_0 vs f32); the file format's validation.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { BitsmithError, MemoryByteSource, SeededRandom } from "../../src/core/index.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { BaseLogitsReader, BaseLogitsRecorder, KldAccumulator, LiveBaseKld, SavedBaseKld, evaluatePerplexity, fullDistribution, topTokens } from "../../src/eval/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { hasSharedData } from "../helpers/paths.js";
import { openStories, perplexityTokens } from "../engine/reference-data.js";

const skip = !hasSharedData && "shared reference data not found";

function softmax(row: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(row));
  const e = Array.from(row, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

test("KldAccumulator: KL(P_base || P_q), Δp and same-top as the definitions give them", () => {
  const rnd = new SeededRandom(9);
  const V = 40;
  const kld = new KldAccumulator();
  let sumKl = 0;
  let same = 0;
  const dps: number[] = [];
  const scratch = { ids: Int32Array.from({ length: V }, (_, i) => i), logProbs: new Float64Array(V) };
  for (let n = 0; n < 200; n++) {
    const base = rnd.fillNormal(new Float32Array(V), 2);
    const q = base.map((v) => v + 0.3 * rnd.normal());
    const token = rnd.int(V);
    kld.add(q, 0, V, token, fullDistribution(base, 0, V, token, scratch));
    const pb = softmax(base);
    const pq = softmax(q);
    sumKl += pb.reduce((s, p, i) => s + p * Math.log(p / pq[i]!), 0);
    if (pb.indexOf(Math.max(...pb)) === pq.indexOf(Math.max(...pq))) same++;
    dps.push(pq[token]! - pb[token]!);
  }
  const r = kld.report();
  assert.equal(r.count, 200);
  assert.ok(Math.abs(r.kld.value - sumKl / 200) < 1e-6, `${r.kld.value} vs ${sumKl / 200}`);
  assert.equal(r.sameTop.value, same / 200);
  assert.ok(Math.abs(r.deltaP.value - dps.reduce((a, b) => a + b, 0) / 200) < 1e-6);
  assert.ok(Math.abs(r.deltaP.max - Math.max(...dps)) < 1e-6 && Math.abs(r.deltaP.min - Math.min(...dps)) < 1e-6);
  assert.ok(r.kld.min >= 0 && r.kld.p0_1 <= r.kld.median && r.kld.median <= r.kld.p99 && r.kld.p99 <= r.kld.max);
});

test("topTokens keeps the most probable tokens up to the coverage, at least one", () => {
  const logits = Float32Array.from([0, 5, 1, 4, -2, 3]);
  const d = topTokens(logits, 0, 6, 4, { coverage: 0.9 });
  assert.deepEqual(Array.from(d.ids), [1, 3, 5]);
  const p = softmax(logits);
  assert.ok(Math.abs(d.targetLogProb - Math.log(p[4]!)) < 1e-6);
  assert.ok(Array.from(d.logProbs).every((lp, j) => Math.abs(lp - Math.log(p[d.ids[j]!]!)) < 1e-6));
  assert.equal(topTokens(logits, 0, 6, 0, { coverage: 0.1 }).count, 1);
  assert.equal(topTokens(logits, 0, 6, 0, { coverage: 1, maxTokens: 4 }).count, 4);
});

test("a model against itself: KLD 0, same top 100%, PPL(Q) = PPL(base)", { skip }, async () => {
  const model = await openStories("Q8_0");
  const engine = await LlamaEngine.create(model);
  const live = new LiveBaseKld(engine);
  const r = await evaluatePerplexity(engine, perplexityTokens(), { ctx: 128, bosId: 1, maxChunks: 4, observers: [live] });
  const k = live.kld.report();
  assert.equal(k.count, r.count);
  assert.ok(Math.abs(k.kld.value) < 1e-9 && k.kld.max < 1e-9);
  assert.equal(k.sameTop.value, 1);
  assert.ok(Math.abs(k.pplQ.value - k.pplBase.value) < 1e-9 && Math.abs(k.pplQ.value - r.ppl) < 1e-9);
  await model.close();
});

test("KLD from a saved base file equals KLD against the base model run alongside (Q4_0 vs f32)", { skip }, async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "bitsmith-kld-"));
  const file = path.join(dir, "base.bslp");
  const base = await openStories("f32");
  const quant = await openStories("Q4_0");
  try {
    const baseEngine = await LlamaEngine.create(base);
    const quantEngine = await LlamaEngine.create(quant);
    const options = { ctx: 128, bosId: 1, maxChunks: 12 };
    const tokens = perplexityTokens();
    const baseRun = await evaluatePerplexity(baseEngine, tokens, { ...options, observers: [new BaseLogitsRecorder(await nodeFileSystem.create(file), "f32")] });
    const bytes = readFileSync(file).length;
    assert.ok(bytes < baseRun.count * 512 * 2, `${bytes} bytes is not smaller than llama.cpp's uint16 vectors`);

    const live = new LiveBaseKld(baseEngine);
    const reader = await BaseLogitsReader.open(await nodeFileSystem.open(file));
    const saved = new SavedBaseKld(reader);
    const q = await evaluatePerplexity(quantEngine, tokens, { ...options, observers: [live, saved] });
    await reader.close();
    const a = live.kld.report();
    const b = saved.kld.report();
    assert.ok(a.kld.value > 0.01, `Q4_0 should diverge from f32 (mean KLD ${a.kld.value})`);
    assert.ok(Math.abs(a.kld.value - b.kld.value) <= 1e-3 * a.kld.value, `live ${a.kld.value} vs file ${b.kld.value}`);
    assert.ok(Math.abs(b.pplBase.value - baseRun.ppl) < 1e-5 && Math.abs(b.pplQ.value - q.ppl) < 1e-9);
    assert.equal(a.sameTop.value, b.sameTop.value);
    assert.ok(Math.abs(a.deltaP.rms.value - b.deltaP.rms.value) < 1e-6);

    // The file must belong to the same text and settings.
    const reopen = async () => new SavedBaseKld(await BaseLogitsReader.open(await nodeFileSystem.open(file)));
    const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => e instanceof BitsmithError && re.test(e.message));
    await rejects(evaluatePerplexity(quantEngine, tokens.slice(1), { ...options, observers: [await reopen()] }), /chunk 0 token 1 differs/);
    await rejects(evaluatePerplexity(quantEngine, tokens, { ...options, protocol: "gptq", observers: [await reopen()] }), /protocol is "llama" in the file but "gptq" now/);
    await rejects(evaluatePerplexity(quantEngine, tokens, { ...options, maxChunks: 13, observers: [await reopen()] }), /chunk count is 12 in the file but 13 now/);
  } finally {
    await base.close();
    await quant.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("damaged base files are refused with the file and field named", async () => {
  const open = (bytes: Uint8Array) => BaseLogitsReader.open(new MemoryByteSource(bytes, "base.bslp"));
  const rejects = (p: Promise<unknown>, re: RegExp) => assert.rejects(p, (e: unknown) => e instanceof BitsmithError && re.test(e.message));
  await rejects(open(new Uint8Array(4)), /base\.bslp: header: 4 bytes is too short/);
  await rejects(open(new TextEncoder().encode("GGUF0000000000000")), /magic/);
  const header = (json: string, extra = 0) => {
    const j = new TextEncoder().encode(json);
    const b = new Uint8Array(12 + j.length + extra);
    b.set(new TextEncoder().encode("BSMLOGP1"));
    new DataView(b.buffer).setUint32(8, j.length, true);
    b.set(j, 12);
    return b;
  };
  const big = header("{}");
  new DataView(big.buffer).setUint32(8, 1e6, true);
  await rejects(open(big), /header length 1000000 exceeds the file size/);
  await rejects(open(header("{nope")), /invalid JSON/);
  const h = { format: "bitsmith-base-logprobs", version: 1, protocol: "llama", ctx: 4, chunks: 1000, vocabSize: 10, firstScored: 2, scoredPerChunk: 1 };
  await rejects(open(header(JSON.stringify(h))), /1000 chunks of 4 tokens exceed the file size/);
  const one = header(JSON.stringify({ ...h, chunks: 1 }), 16 + 4 + 8 + 8);
  const v = new DataView(one.buffer);
  const at = one.length - 20;
  v.setUint32(at, 16, true); // chunk byte length
  v.setUint16(at + 4, 1, true); // one token
  v.setUint32(at + 12, 99, true); // id 99 >= vocabulary 10
  const reader = await open(one);
  await rejects(reader.readChunk(), /token id 99 outside the vocabulary/);
});
