/**
 * llama.cpp's token_to_piece and detokenize: the bytes each token stands for, joined, with SentencePiece's
 * leading space removed and, for vocabularies with clean_spaces, the spaces before punctuation and some
 * contractions removed (llama_vocab::impl::detokenize).
 */
import { BitsmithError } from "../core/index.js";
import { CHAR_TO_BYTE, codepointsOf, pushUtf8, utf8Bytes } from "./unicode.js";
import { ATTR_BYTE, ATTR_CONTROL, ATTR_NORMAL, ATTR_UNKNOWN, ATTR_USER_DEFINED } from "./vocab.js";
import type { LlamaVocab } from "./vocab.js";

export interface PieceSource {
  /** The bytes of token `id`; with `special` false, control and unknown tokens are empty. */
  piece(id: number, special: boolean): Uint8Array;
  /** llama_detokenize(tokens, remove_special, unparse_special) as bytes. */
  detokenize(ids: readonly number[], removeSpecial: boolean, unparseSpecial: boolean): Uint8Array;
}

const EMPTY = new Uint8Array(0);
const SPACE = 0x20;

export function pieceSource(vocab: LlamaVocab): PieceSource {
  const cache: (Uint8Array | undefined)[] = new Array(vocab.tokens.length);

  const piece = (id: number, special: boolean): Uint8Array => {
    if (!Number.isInteger(id) || id < 0 || id >= vocab.tokens.length) {
      throw new BitsmithError(`token id ${id} is outside the vocabulary (${vocab.tokens.length} tokens)`);
    }
    const attr = vocab.attrs[id];
    if (!special && attr & (ATTR_UNKNOWN | ATTR_CONTROL)) return EMPTY;
    return (cache[id] ??= Uint8Array.from(pieceBytes(vocab, id, attr)));
  };

  const detokenize = (ids: readonly number[], removeSpecial: boolean, unparseSpecial: boolean): Uint8Array => {
    let removeSpace = vocab.addSpacePrefix;
    let first = 0;
    let end = ids.length;
    if (removeSpecial && vocab.addBos && end > 0 && ids[0] === vocab.bos) {
      removeSpace = false;
      first = 1;
    }
    if (removeSpecial && vocab.addEos && end > first && ids[end - 1] === vocab.eos) end--;
    const bytes: number[] = [];
    for (let i = first; i < end; i++) {
      const p = piece(ids[i], unparseSpecial);
      // Only the first token (after a removed BOS: none) loses one leading space.
      for (let j = removeSpace && p[0] === SPACE ? 1 : 0; j < p.length; j++) bytes.push(p[j]);
      removeSpace = false;
    }
    return Uint8Array.from(vocab.cleanSpaces ? cleanSpaces(bytes) : bytes);
  };

  return { piece, detokenize };
}

function pieceBytes(vocab: LlamaVocab, id: number, attr: number): number[] {
  const text = vocab.tokens[id];
  if (attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) return utf8Bytes(text);
  if (attr & ATTR_NORMAL) return vocab.type === "spm" ? utf8Bytes(text.replaceAll("\u2581", " ")) : byteLevelBytes(text);
  if (attr & ATTR_BYTE) return [parseInt(text.substring(3, 5), 16)];
  // Unused and undefined tokens render as nothing, like control tokens.
  return [];
}

/** A byte-level BPE token's bytes; a character outside GPT-2's alphabet is rendered as llama.cpp does. */
function byteLevelBytes(text: string): number[] {
  const out: number[] = [];
  for (const cp of codepointsOf(text)) {
    const b = CHAR_TO_BYTE.get(cp);
    if (b !== undefined) {
      out.push(b);
      continue;
    }
    const utf8: number[] = [];
    pushUtf8(utf8, cp);
    const hex = utf8.map((x) => x.toString(16).padStart(2, "0")).join("");
    out.push(...utf8Bytes(`[UNK_BYTE_0x${hex}${text}]`));
  }
  return out;
}

const APOSTROPHE = 0x27;
const ch = (c: string) => c.charCodeAt(0);

/**
 * llama.cpp's three clean-up passes, in place and in the same order, so that their interplay (each pass reads
 * what the previous one compacted) is the same.
 */
function cleanSpaces(t: number[]): number[] {
  // " ?", " !", " .", " ,": drop the space.
  let n = t.length;
  let total = n ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i];
    if (t[i - 1] === SPACE && (x === ch("?") || x === ch("!") || x === ch(".") || x === ch(","))) total--;
    t[total++] = x;
  }
  // " ' ": drop both spaces around a lone apostrophe.
  n = total;
  total = total ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i];
    if (x === APOSTROPHE && i + 1 < n && t[i - 1] === SPACE && t[i + 1] === SPACE) {
      total--;
      t[++i] = 0;
    }
    t[total++] = x;
  }
  // " 's", " 'm", " 're", " 've": drop the space (" 't", " 'd", " 'll" keep it).
  n = total;
  total = total ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = t[i];
    if (t[i - 1] === SPACE && x === APOSTROPHE && i + 1 < n) {
      const x1 = t[i + 1];
      if (x1 === ch("s") || x1 === ch("m")) total--;
      else if (x1 !== ch("t") && x1 !== ch("d") && i + 2 < n) {
        const x2 = t[i + 2];
        if ((x1 === ch("r") || x1 === ch("v")) && x2 === ch("e")) total--;
      }
    }
    t[total++] = x;
  }
  t.length = total;
  return t;
}
