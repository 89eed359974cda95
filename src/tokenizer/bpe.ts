/**
 * llama.cpp's byte-level BPE tokenizer (llm_tokenizer_bpe_session): split the text into words with the
 * vocabulary's pre-tokenizer, write each word's UTF-8 bytes in GPT-2's byte alphabet, then inside each word keep
 * merging the adjacent pair with the lowest merge rank (ties: the leftmost pair) and emit the resulting tokens.
 */
import { MergeQueue, mergeSymbols } from "./merge-queue.js";
import { regexSplit } from "./regex-split.js";
import { BYTE_TO_CHAR, codepointsOf, pushUtf8 } from "./unicode.js";
import type { LlamaVocab } from "./vocab.js";

/** Returns the tokenizer of one text fragment. */
export function bpeTokenizer(vocab: LlamaVocab): (text: string, out: number[]) => void {
  const pre = vocab.pre!;
  const queue = new MergeQueue();
  const mergeWord = (word: string, out: number[]) => {
    if (pre.ignoreMerges) {
      const id = vocab.ids.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    // Every character of a byte-encoded word is one UTF-16 unit: symbol i starts at unit i.
    const length = new Array<number>(word.length).fill(1);
    const textOf = (i: number) => word.substr(i, length[i]);
    const next = mergeSymbols(queue, length, (left, right) => vocab.mergeRanks.get(textOf(left) + " " + textOf(right)));

    for (let i = 0; i !== -1; i = next[i]) {
      const piece = textOf(i);
      const id = vocab.ids.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // llama.cpp looks each UTF-8 byte of the piece up as a one-byte string; only ASCII ones can be tokens.
      for (const ch of piece) {
        const byteId = ch.charCodeAt(0) < 0x80 ? vocab.ids.get(ch) : undefined;
        if (byteId !== undefined) out.push(byteId);
      }
    }
  };

  return (text, out) => {
    const cps = codepointsOf(text);
    // Words are merged independently, so a repeated word is merged once.
    const merged = new Map<string, number[]>();
    let start = 0;
    for (const length of regexSplit(cps, pre.expressions)) {
      const bytes: number[] = [];
      for (let i = start; i < start + length; i++) pushUtf8(bytes, cps[i]);
      start += length;
      if (bytes.length === 0) continue;
      const word = bytes.map((b) => BYTE_TO_CHAR[b]).join("");
      let ids = merged.get(word);
      if (ids === undefined) {
        ids = [];
        mergeWord(word, ids);
        merged.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  };
}
