/**
 * llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm_session): start from single characters and keep
 * merging the adjacent pair whose concatenation is the vocabulary token with the highest score (ties: the
 * leftmost pair), then emit each symbol's token, or its UTF-8 bytes as <0xXX> byte tokens when the symbol is
 * not a token.
 *
 * llama.cpp runs one merge loop over a whole text. When no vocabulary token has a U+2581 after another
 * character, no token can span the start of a word (a U+2581 after something else), so no merge crosses it and
 * each word can be merged on its own with the same result; repeated words are then merged once.
 *
 * llama.cpp also keeps a "resegment" table to split an unknown merged symbol back into its parts, but a merge
 * only happens when the merged text is a token, so only single characters can be unknown and the table is never
 * consulted for them; they go straight to byte fallback here.
 */
import { BitsmithError } from "../core/index.js";
import { MergeQueue, mergeSymbols } from "./merge-queue.js";
import { utf8Bytes } from "./unicode.js";
import type { LlamaVocab } from "./vocab.js";

/** Returns the tokenizer of one text fragment whose spaces are already U+2581. */
export function spmTokenizer(vocab: LlamaVocab): (text: string, out: number[]) => void {
  const byteTokens = byteTokenTable(vocab);
  const byteToken = (b: number) => {
    const id = byteTokens[b];
    if (id < 0) throw new BitsmithError(`the vocabulary has no token for byte 0x${b.toString(16).padStart(2, "0").toUpperCase()}`);
    return id;
  };

  const queue = new MergeQueue();
  const mergeSegment = (text: string, out: number[]) => {
    // Symbols are code points, as [start, start+length) in UTF-16 units, in a doubly linked list.
    const start: number[] = [];
    const length: number[] = [];
    for (let i = 0; i < text.length; ) {
      const c = text.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < text.length ? 2 : 1;
      start.push(i);
      length.push(w);
      i += w;
    }
    if (start.length === 0) return;
    // Highest score first: the queue takes the smallest key.
    const next = mergeSymbols(queue, length, (left, right) => {
      const id = vocab.ids.get(text.substr(start[left], length[left] + length[right]));
      return id === undefined ? undefined : -vocab.scores[id];
    });

    for (let i = 0; i !== -1; i = next[i]) {
      const piece = text.substr(start[i], length[i]);
      const id = vocab.ids.get(piece);
      if (id !== undefined) out.push(id);
      else for (const b of utf8Bytes(piece)) out.push(byteToken(b));
    }
  };

  const wordsAreIndependent = !vocab.tokens.some((t) => /[^\u2581]\u2581/u.test(t));
  return (text, out) => {
    if (!wordsAreIndependent) return mergeSegment(text, out);
    const merged = new Map<string, number[]>();
    let from = 0;
    for (let i = 1; i <= text.length; i++) {
      if (i < text.length && !(text.charCodeAt(i) === WORD_START && text.charCodeAt(i - 1) !== WORD_START)) continue;
      const word = text.slice(from, i);
      let ids = merged.get(word);
      if (ids === undefined) {
        ids = [];
        mergeSegment(word, ids);
        merged.set(word, ids);
      }
      for (const id of ids) out.push(id);
      from = i;
    }
  };
}

const WORD_START = 0x2581;

/** llama.cpp's byte_to_token for SentencePiece: the <0xXX> token, else the one-character token of an ASCII byte. */
function byteTokenTable(vocab: LlamaVocab): Int32Array {
  const table = new Int32Array(256).fill(-1);
  for (let b = 0; b < 256; b++) {
    const hex = vocab.ids.get(`<0x${b.toString(16).padStart(2, "0").toUpperCase()}>`);
    // A byte >= 0x80 alone is not a character, so only ASCII has a one-character fallback.
    table[b] = hex ?? (b < 0x80 ? (vocab.ids.get(String.fromCharCode(b)) ?? -1) : -1);
  }
  return table;
}
