/**
 * llama.cpp's tokenizer_st_partition: before any tokenization, occurrences of special tokens' text are cut out
 * of the input and become those tokens. Tokens are tried longest first, each over all text that is left.
 * User-defined tokens are always cut out; control and unknown tokens only with parse_special (as Hugging Face
 * tokenizers treat added tokens). Tokens with the lstrip/rstrip attribute swallow the whitespace beside them.
 */
import { ATTR_CONTROL, ATTR_LSTRIP, ATTR_RSTRIP, ATTR_UNKNOWN } from "./vocab.js";
import type { LlamaVocab } from "./vocab.js";

/** Text still to be tokenized, or a token id. */
export type Fragment = string | number;

/** C's isspace in the C locale. */
const TRAILING_SPACE = /[ \t\n\v\f\r]+$/;
const LEADING_SPACE = /^[ \t\n\v\f\r]+/;

export function splitSpecialTokens(vocab: LlamaVocab, text: string, parseSpecial: boolean): Fragment[] {
  let fragments: Fragment[] = text === "" ? [] : [text];
  for (const id of vocab.specialTokens) {
    const attr = vocab.attrs[id];
    if (!parseSpecial && attr & (ATTR_CONTROL | ATTR_UNKNOWN)) continue;
    const needle = vocab.tokens[id];
    if (!fragments.some((f) => typeof f === "string" && f.includes(needle))) continue;
    const next: Fragment[] = [];
    for (const fragment of fragments) {
      if (typeof fragment === "number") {
        next.push(fragment);
        continue;
      }
      let rest = fragment;
      for (let at = rest.indexOf(needle); at >= 0; at = rest.indexOf(needle)) {
        let left = rest.slice(0, at);
        if (attr & ATTR_LSTRIP) left = left.replace(TRAILING_SPACE, "");
        if (left !== "") next.push(left);
        next.push(id);
        rest = rest.slice(at + needle.length);
        if (attr & ATTR_RSTRIP) rest = rest.replace(LEADING_SPACE, "");
      }
      if (rest !== "") next.push(rest);
    }
    fragments = next;
  }
  return fragments;
}
