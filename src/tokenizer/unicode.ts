/**
 * The Unicode facts llama.cpp's tokenizers use (its unicode.cpp / unicode-data.cpp): one general-category
 * flag per code point plus the White_Space property, UTF-8 encoding, and GPT-2's byte <-> character table.
 * Categories come from the JavaScript engine's Unicode tables, which can differ from llama.cpp's generated
 * table only for code points assigned in a newer Unicode version than one of the two knows.
 */

const CPT_UNDEFINED = 0x0001;
export const CPT_NUMBER = 0x0002;
export const CPT_LETTER = 0x0004;
const CPT_SEPARATOR = 0x0008;
export const CPT_MARK = 0x0010;
export const CPT_PUNCTUATION = 0x0020;
export const CPT_SYMBOL = 0x0040;
const CPT_CONTROL = 0x0080;
export const CPT_WHITESPACE = 0x0100;

/** One test per general category (every code point is in exactly one); what none matches is Cc/Cf/Co/Cs. */
const CATEGORY_TESTS: readonly [RegExp, number][] = [
  [/^\p{L}$/u, CPT_LETTER],
  [/^\p{N}$/u, CPT_NUMBER],
  [/^\p{P}$/u, CPT_PUNCTUATION],
  [/^\p{S}$/u, CPT_SYMBOL],
  [/^\p{M}$/u, CPT_MARK],
  [/^\p{Z}$/u, CPT_SEPARATOR],
  [/^\p{Cn}$/u, CPT_UNDEFINED],
];
const WHITE_SPACE = /^\p{White_Space}$/u;

/** Lazily filled: 0 = not computed yet (every computed entry has a category bit). */
const flagCache = new Uint16Array(0x110000);

/** llama.cpp's unicode_cpt_flags_from_cpt: the category bit, plus CPT_WHITESPACE for White_Space code points. */
export function codepointFlags(cp: number): number {
  let f = flagCache[cp];
  if (f !== 0) return f;
  const s = String.fromCodePoint(cp);
  f = CPT_CONTROL; // Cc, Cf, Co, Cs
  for (const [re, flag] of CATEGORY_TESTS) {
    if (re.test(s)) {
      f = flag;
      break;
    }
  }
  if (WHITE_SPACE.test(s)) f |= CPT_WHITESPACE;
  flagCache[cp] = f;
  return f;
}

/**
 * The code points of a JavaScript string. A lone surrogate becomes U+FFFD, as it does when the string is
 * encoded to the UTF-8 llama.cpp reads.
 */
export function codepointsOf(text: string): number[] {
  const cps: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        cps.push(0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00));
        i++;
        continue;
      }
    }
    cps.push(c >= 0xd800 && c <= 0xdfff ? 0xfffd : c);
  }
  return cps;
}

/** The string with each lone surrogate replaced by U+FFFD: the text llama.cpp receives as UTF-8. */
export function wellFormed(text: string): string {
  return text.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD");
}

/** Appends the UTF-8 bytes of code point `cp` to `out`. */
export function pushUtf8(out: number[], cp: number): void {
  if (cp < 0x80) out.push(cp);
  else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  else if (cp < 0x10000) out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  else out.push(0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3f), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
}

/** The UTF-8 bytes of a string (lone surrogates as U+FFFD). */
export function utf8Bytes(text: string): number[] {
  const out: number[] = [];
  for (const cp of codepointsOf(text)) pushUtf8(out, cp);
  return out;
}

// ignoreBOM keeps a leading U+FEFF: it is part of the text, as in llama.cpp's output bytes.
const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** Bytes to text; invalid sequences become U+FFFD, as a terminal printing llama.cpp's output would show them. */
export function decodeUtf8(bytes: Uint8Array | readonly number[]): string {
  return utf8Decoder.decode(bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes));
}

/**
 * GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, the other 68 bytes are moved to
 * U+0100.. in byte order, so every byte is a visible character in the vocabulary's strings.
 */
function buildByteAlphabet(): { byteToChar: string[]; charToByte: Map<number, number> } {
  const byteToChar = new Array<string>(256);
  const charToByte = new Map<number, number>();
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const cp = printable ? b : next++;
    byteToChar[b] = String.fromCharCode(cp);
    charToByte.set(cp, b);
  }
  return { byteToChar, charToByte };
}

export const { byteToChar: BYTE_TO_CHAR, charToByte: CHAR_TO_BYTE } = buildByteAlphabet();
