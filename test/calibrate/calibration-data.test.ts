import { test } from "node:test";
import assert from "node:assert/strict";
import { BitsmithError, SeededRandom } from "../../src/core/index.js";
import { calibrationTokens, parseCalibrationFile, sampleCalibrationWindows } from "../../src/calibrate/calibration-data.js";
import { renderChat } from "../../src/calibrate/chat-template.js";
import { ChannelStats, HessianAccumulator } from "../../src/calibrate/activation-stats.js";
import type { Tokenizer } from "../../src/tokenizer/index.js";

/** A stand-in tokenizer: one token per character code, BOS = 1 when special tokens are added. */
const charTokenizer = {
  encode: (text: string, o: { addSpecial?: boolean; parseSpecial?: boolean } = {}) => [...((o.addSpecial ?? true) ? [1] : []), ...Array.from(text, (c) => c.charCodeAt(0))],
} as unknown as Tokenizer;

test("plain text is one document (one trailing newline dropped); JSONL has one per line", () => {
  assert.deepEqual(parseCalibrationFile("hello\n", "a.txt"), [{ text: "hello" }]);
  const docs = parseCalibrationFile('{"text":"a b"}\n\n{"messages":[{"role":"user","content":"hi"}],"id":3}\n', "d.jsonl");
  assert.deepEqual(docs, [{ text: "a b" }, { messages: [{ role: "user", content: "hi" }] }]);
  assert.throws(() => parseCalibrationFile("", "a.txt"), /empty/);
  assert.throws(() => parseCalibrationFile('{"text":1}\n', "d.jsonl"), (e: Error) => e instanceof BitsmithError && /d\.jsonl: line 1/.test(e.message));
  assert.throws(() => parseCalibrationFile("{oops\n", "d.jsonl"), /line 1: is not JSON/);
  assert.throws(() => parseCalibrationFile('{"messages":[{"role":"user"}]}', "d.jsonl"), /messages\[0\]/);
});

test("chats are rendered by the model's Jinja template with BOS/EOS tokens, then tokenized without added specials", () => {
  const template = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{{ eos_token }}{% endfor %}";
  const chat = { template, bosToken: "<s>", eosToken: "</s>" };
  const messages = [
    { role: "user", content: "Hi" },
    { role: "assistant", content: "Yo" },
  ];
  assert.equal(renderChat(chat, messages), "<s><|user|>Hi</s><|assistant|>Yo</s>");
  const tokens = calibrationTokens([{ messages }, { text: "ab" }], charTokenizer, chat, "c.jsonl");
  const expected = [...Array.from("<s><|user|>Hi</s><|assistant|>Yo</s>", (c) => c.charCodeAt(0)), 1, 97, 98];
  assert.deepEqual(Array.from(tokens), expected);
  assert.throws(() => calibrationTokens([{ messages }], charTokenizer, undefined, "c.jsonl"), /no chat template/);
});

test("windows: the same seed gives the same distinct non-overlapping windows; too short a text is an error", () => {
  const stream = Int32Array.from({ length: 1000 }, (_, i) => i);
  const a = sampleCalibrationWindows(stream, { samples: 10, seqLen: 64, seed: 7 }, "t");
  const b = sampleCalibrationWindows(stream, { samples: 10, seqLen: 64, seed: 7 }, "t");
  const c = sampleCalibrationWindows(stream, { samples: 10, seqLen: 64, seed: 8 }, "t");
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  const starts = a.map((w) => w[0]!);
  assert.equal(new Set(starts).size, 10);
  for (const w of a) {
    assert.equal(w.length, 64);
    assert.equal(w[0]! % 64, 0, "windows start on the window grid");
    w.forEach((t, i) => assert.equal(t, w[0]! + i));
  }
  assert.throws(
    () => sampleCalibrationWindows(stream, { samples: 16, seqLen: 64 }, "short.txt"),
    (e: Error) => /short\.txt: the calibration text has 1000 tokens: 15 windows of 64, fewer than the 16 samples requested/.test(e.message),
  );
  assert.throws(() => sampleCalibrationWindows(stream, { samples: 0, seqLen: 64 }, "t"), /positive integer/);
});

test("Hessian = 2·XᵀX/n and channel statistics, against a direct float64 computation, across batches", () => {
  const rng = new SeededRandom(3);
  const cols = 150;
  const batches = [37, 5, 130].map((rows) => ({ rows, x: Float32Array.from({ length: rows * cols }, () => rng.normal() * (1 + rng.int(3))) }));
  const h = new HessianAccumulator(cols);
  const s = new ChannelStats(cols);
  for (const { rows, x } of batches) {
    h.add(x, rows);
    s.add(x, rows);
  }
  const n = 37 + 5 + 130;
  const got = h.hessian();
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let ref = 0;
      for (const { rows, x } of batches) for (let r = 0; r < rows; r++) ref += x[r * cols + i]! * x[r * cols + j]!;
      ref = (2 * ref) / n;
      assert.ok(Math.abs(got[i * cols + j]! - ref) <= 1e-5 * (1 + Math.abs(ref)), `H[${i}][${j}] ${got[i * cols + j]} vs ${ref}`);
    }
  }
  const meanAbs = s.meanAbs();
  const meanSq = s.meanSquares();
  for (let c = 0; c < cols; c++) {
    let a = 0;
    let q = 0;
    for (const { rows, x } of batches) for (let r = 0; r < rows; r++) {
      a += Math.abs(x[r * cols + c]!);
      q += x[r * cols + c]! ** 2;
    }
    assert.ok(Math.abs(meanAbs[c]! - a / n) < 1e-12 * n);
    assert.ok(Math.abs(meanSq[c]! - q / n) < 1e-12 * n);
    assert.ok(Math.abs(meanSq[c]! * 2 - got[c * cols + c]!) < 1e-5 * (1 + got[c * cols + c]!), "H's diagonal is 2·E[x²]");
  }
});
