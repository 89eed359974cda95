/**
 * The forward-pass hooks as calibration plug-ins: an imatrix collector built on onLinearInput reproduces
 * llama-imatrix's sums of squared activations, and the hooked activations equal direct computations.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { LlamaEngine } from "../../src/engine/index.js";
import { planChunks } from "../../src/eval/index.js";
import { readGgufFile } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";
import { toFloat32 } from "../../src/codecs/convert.js";
import { logitsTokens, openStories, perplexityTokens, ref } from "./reference-data.js";

const skip = !hasSharedData && "shared reference data not found";

test("an onLinearInput sum-of-squares collector matches llama-imatrix's in_sum2 for all 35 matrices", { skip }, async () => {
  const model = await openStories("f32");
  const engine = await LlamaEngine.create(model);
  // llama-imatrix -c 128 -b 128: 75 chunks of 128 tokens, BOS first, every token collected.
  const chunks = planChunks(perplexityTokens(), { ctx: 128, protocol: "llama", bosId: 1 });
  const sums = new Map<string, Float64Array>();
  const counts = new Map<string, number>();
  for (let i = 0; i < chunks.length; i += 4) {
    await engine.forwardBatch(
      chunks.slice(i, i + 4).map((c) => c.input),
      {
        logits: "none",
        onLinearInput(name, x, rows, cols) {
          let s = sums.get(name);
          if (!s) sums.set(name, (s = new Float64Array(cols)));
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) s[c] += x[r * cols + c]! * x[r * cols + c]!;
          counts.set(name, (counts.get(name) ?? 0) + rows);
        },
      },
    );
  }
  await model.close();

  const imatrix = await readGgufFile(nodeFileSystem, ref("models", "imatrix-ts-head20k.gguf"));
  const sumTensors = imatrix.tensors.filter((t) => t.name.endsWith(".in_sum2"));
  assert.equal(sumTensors.length, 35);
  let worst = 0;
  for (const t of sumTensors) {
    const name = t.name.slice(0, -".in_sum2".length);
    const expected = toFloat32(await t.read(), t.type, t.shape.reduce((a, b) => a * b, 1));
    const countRef = imatrix.tensors.find((x) => x.name === `${name}.counts`)!;
    assert.equal(counts.get(name), toFloat32(await countRef.read(), countRef.type, 1)[0], `${name} token count`);
    const got = sums.get(name);
    assert.ok(got, `no hook call for ${name}`);
    assert.equal(got.length, expected.length);
    for (let c = 0; c < got.length; c++) worst = Math.max(worst, Math.abs(got[c]! - expected[c]!) / expected[c]!);
  }
  // llama-imatrix ran with its default f16 KV cache; sums over 9600 tokens agree to a fraction of a percent.
  assert.ok(worst < 2e-3, `largest relative difference ${worst}`);
  await imatrix.source.close?.();
});

test("hooked activations equal direct computations: layer 0's attn_q input and the logits from the last block's output", { skip }, async () => {
  const model = await openStories("f32");
  const engine = await LlamaEngine.create(model);
  const tokens = logitsTokens().slice(0, 40);
  const tensor = async (name: string) => {
    const t = model.tensors.find((x) => x.name === name)!;
    return toFloat32(await t.read(), t.type, t.shape.reduce((a, b) => a * b, 1));
  };
  const [embd, norm0, outNorm, outW] = await Promise.all(["token_embd.weight", "blk.0.attn_norm.weight", "output_norm.weight", "output.weight"].map(tensor));
  const dim = 64;
  const rmsnorm = (x: ArrayLike<number>, w: Float32Array) => {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[i]! * x[i]!;
    const s = 1 / Math.sqrt(ss / dim + 1e-5);
    return Array.from({ length: dim }, (_, i) => x[i]! * s * w[i]!);
  };

  let q0: Float32Array | undefined;
  let last: Float32Array | undefined;
  const calls: string[] = [];
  const out = await engine.forward(tokens, {
    onLinearInput(name, x) {
      calls.push(name);
      if (name === "blk.0.attn_q.weight") q0 = x.slice();
    },
    onBlockOutput(layer, h, rows, cols) {
      assert.equal(rows, tokens.length);
      assert.equal(cols, dim);
      if (layer === 4) last = h.slice();
    },
  });
  const perLayer = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];
  assert.deepEqual(calls, [...[0, 1, 2, 3, 4].flatMap((l) => perLayer.map((n) => `blk.${l}.${n}.weight`)), "output.weight"]);

  let maxIn = 0;
  tokens.forEach((id, r) => {
    const direct = rmsnorm(embd.subarray(id * dim, (id + 1) * dim), norm0);
    for (let i = 0; i < dim; i++) maxIn = Math.max(maxIn, Math.abs(direct[i]! - q0![r * dim + i]!));
  });
  assert.ok(maxIn < 1e-5, `attn_q input differs by ${maxIn}`);

  let maxLogit = 0;
  for (let r = 0; r < tokens.length; r++) {
    const x = rmsnorm(last!.subarray(r * dim, (r + 1) * dim), outNorm);
    for (let v = 0; v < 512; v++) {
      let s = 0;
      for (let i = 0; i < dim; i++) s += x[i]! * outW[v * dim + i]!;
      maxLogit = Math.max(maxLogit, Math.abs(s - out.logits[r * 512 + v]!));
    }
  }
  assert.ok(maxLogit < 1e-4, `logits from the last block output differ by ${maxLogit}`);
  await model.close();
});
