/**
 * Calibration data: the token windows a calibration-based method (GPTQ, AWQ, outliers) runs through the model.
 *
 * Sources: a plain text file (one document), or JSONL with one JSON object per line holding either `text` or
 * `messages` (a chat, rendered by the model's chat template). Every document is tokenized as the model's
 * tokenizer does for a prompt (BOS when the vocabulary adds one; rendered chats carry their own special
 * tokens), the documents' tokens are joined into one stream, and `samples` windows of `seqLen` tokens are drawn
 * from the stream's non-overlapping windows in a seeded random order: the same file, seed and model always
 * give the same windows.
 *
 * The GPTQ and AWQ papers use 128 windows of 2048 tokens (GPTQ from C4 or WikiText-2, random offsets);
 * bitsmith's defaults are the same, with seqLen capped at the model's context length. Unlike the papers'
 * random offsets, windows never overlap, so a short text is never counted twice.
 */
import { BitsmithError, SeededRandom, isJsonObject } from "../core/index.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { renderChat } from "./chat-template.js";
import type { ChatMessage, ChatTemplateContext } from "./chat-template.js";

export const DEFAULT_CALIBRATION_SAMPLES = 128;
export const DEFAULT_CALIBRATION_SEQLEN = 2048;
export const DEFAULT_CALIBRATION_SEED = 0;

export type CalibrationDocument = { readonly text: string } | { readonly messages: readonly ChatMessage[] };

/**
 * Documents of a calibration file: JSONL when the name ends in .jsonl (or `format` says so), else plain text
 * (the whole file, minus one trailing newline, as llama.cpp reads a text file).
 */
export function parseCalibrationFile(content: string, file: string, format?: "text" | "jsonl"): CalibrationDocument[] {
  const kind = format ?? (/\.jsonl$/i.test(file) ? "jsonl" : "text");
  if (kind === "text") {
    const text = content.endsWith("\n") ? content.slice(0, -1) : content;
    if (text.length === 0) throw new BitsmithError("the calibration text is empty", { file });
    return [{ text }];
  }
  const docs: CalibrationDocument[] = [];
  content.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const field = `line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new BitsmithError(`is not JSON: ${(e as Error).message}`, { file, field });
    }
    if (!isJsonObject(value)) throw new BitsmithError("is not a JSON object", { file, field });
    if (typeof value.text === "string") docs.push({ text: value.text });
    else if (Array.isArray(value.messages)) docs.push({ messages: value.messages.map((m, j) => chatMessage(m, file, `${field}: messages[${j}]`)) });
    else throw new BitsmithError('has neither a "text" string nor a "messages" array', { file, field });
  });
  if (docs.length === 0) throw new BitsmithError("the calibration file has no records", { file });
  return docs;
}

function chatMessage(m: unknown, file: string, field: string): ChatMessage {
  if (!isJsonObject(m) || typeof m.role !== "string" || typeof m.content !== "string") {
    throw new BitsmithError('must be an object with string "role" and "content"', { file, field });
  }
  return { role: m.role, content: m.content };
}

/**
 * All documents as one token stream. Texts are encoded with the vocabulary's special tokens (BOS); chats are
 * rendered by `chat.template` (the model's tokenizer.chat_template) and encoded with their special tokens
 * parsed and nothing added, as transformers' apply_chat_template(tokenize=True) does.
 */
export function calibrationTokens(docs: readonly CalibrationDocument[], tokenizer: Tokenizer, chat: ChatTemplateContext | undefined, file: string): Int32Array {
  const parts: number[][] = [];
  for (const d of docs) {
    if ("text" in d) parts.push(tokenizer.encode(d.text, { addSpecial: true }));
    else {
      if (!chat) throw new BitsmithError("has chat messages but the model has no chat template (tokenizer.chat_template)", { file });
      parts.push(tokenizer.encode(renderChat(chat, d.messages), { addSpecial: false, parseSpecial: true }));
    }
  }
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface CalibrationSampling {
  /** Windows to draw (default 128). */
  readonly samples?: number;
  /** Tokens per window (default 2048). */
  readonly seqLen?: number;
  readonly seed?: number;
}

/** `samples` distinct non-overlapping windows of `seqLen` tokens of the stream, in a seeded random order. */
export function sampleCalibrationWindows(tokens: Int32Array, sampling: CalibrationSampling, file: string): Int32Array[] {
  const samples = sampling.samples ?? DEFAULT_CALIBRATION_SAMPLES;
  const seqLen = sampling.seqLen ?? DEFAULT_CALIBRATION_SEQLEN;
  if (!Number.isSafeInteger(samples) || samples < 1) throw new BitsmithError(`calibration samples must be a positive integer, got ${samples}`, { field: "calib-samples" });
  if (!Number.isSafeInteger(seqLen) || seqLen < 2) throw new BitsmithError(`calibration sequence length must be an integer of at least 2, got ${seqLen}`, { field: "calib-seqlen" });
  const windows = Math.floor(tokens.length / seqLen);
  if (windows < samples) {
    throw new BitsmithError(
      `the calibration text has ${tokens.length} tokens: ${windows} windows of ${seqLen}, fewer than the ${samples} samples requested; use a longer text, fewer samples or a shorter sequence length`,
      { file },
    );
  }
  // A partial Fisher-Yates shuffle of the window indices: the first `samples` positions are the draw.
  const rng = new SeededRandom(sampling.seed ?? DEFAULT_CALIBRATION_SEED);
  const order = Int32Array.from({ length: windows }, (_, i) => i);
  for (let i = 0; i < samples; i++) {
    const j = i + rng.int(windows - i);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return Array.from(order.subarray(0, samples), (w) => tokens.slice(w * seqLen, (w + 1) * seqLen));
}
