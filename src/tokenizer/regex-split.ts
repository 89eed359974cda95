/**
 * llama.cpp's pre-tokenizer splitting (unicode_regex_split): a text is cut into words by a list of
 * expressions applied one after the other, each one cutting every piece the previous one left, and keeping
 * both the matches and the text between them.
 *
 * Like llama.cpp, the two expressions it hand-codes (GPT-2's and Llama 3's) run as hand-written scanners with
 * llama.cpp's exact behaviour; every other expression runs as a regular expression over a stand-in text in which
 * each code point is one character: with Unicode categories (\p{L}, ...) the "collapsed" text, where a non-ASCII
 * code point becomes one placeholder per category (so \p{L} means "ASCII letter or the letter placeholder");
 * without them the real code points, non-ASCII whitespace turned into \v. llama.cpp's std::regex has the
 * same ECMAScript semantics as JavaScript's RegExp, and `\s` is spelled out as the C locale's six characters.
 */
import { BitsmithError } from "../core/index.js";
import {
  codepointFlags,
  CPT_LETTER,
  CPT_MARK,
  CPT_NUMBER,
  CPT_PUNCTUATION,
  CPT_SYMBOL,
  CPT_WHITESPACE,
} from "./unicode.js";

/** Cuts each piece (given as code point lengths, in order) into smaller pieces; returns the new lengths. */
type Splitter = (text: SplitText, pieces: readonly number[]) => number[];

/** Returns the word boundaries of `cps` as consecutive lengths in code points. */
export function regexSplit(cps: readonly number[], expressions: readonly string[]): number[] {
  const text = new SplitText(cps);
  let pieces = [cps.length];
  for (const expression of expressions) pieces = splitterFor(expression)(text, pieces);
  return pieces;
}

/** The exact expression strings llama.cpp recognises and replaces with its hand-written scanners. */
export const GPT2_EXPRESSION = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
export const LLAMA3_EXPRESSION =
  "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const splitters = new Map<string, Splitter>();

function splitterFor(expression: string): Splitter {
  let s = splitters.get(expression);
  if (s === undefined) {
    if (expression === GPT2_EXPRESSION) s = scanner(scanGpt2);
    else if (expression === LLAMA3_EXPRESSION) s = scanner(scanLlama3);
    else s = regexSplitter(expression);
    splitters.set(expression, s);
  }
  return s;
}

/** The text in the forms the splitters need, built on first use. */
class SplitText {
  private collapsedText?: string;
  private wideText?: { text: string; unitOf: Int32Array; cpOf: Int32Array };

  constructor(readonly cps: readonly number[]) {}

  /** One UTF-16 unit per code point: ASCII as is, non-ASCII whitespace \v, other code points a category placeholder. */
  get collapsed(): string {
    if (this.collapsedText === undefined) {
      const units = new Uint16Array(this.cps.length);
      this.cps.forEach((cp, i) => (units[i] = cp < 128 ? cp : collapsedUnit(codepointFlags(cp))));
      let s = "";
      for (let i = 0; i < units.length; i += 8192) s += String.fromCharCode(...units.subarray(i, i + 8192));
      this.collapsedText = s;
    }
    return this.collapsedText;
  }

  /** The real code points (non-ASCII whitespace as \v) and the maps between UTF-16 units and code points. */
  get wide(): { text: string; unitOf: Int32Array; cpOf: Int32Array } {
    if (this.wideText === undefined) {
      const n = this.cps.length;
      const unitOf = new Int32Array(n + 1);
      const parts: string[] = [];
      let units = 0;
      for (let i = 0; i < n; i++) {
        const cp = this.cps[i];
        unitOf[i] = units;
        parts.push(cp > 0x7f && codepointFlags(cp) & CPT_WHITESPACE ? "\v" : String.fromCodePoint(cp));
        units += cp >= 0x10000 ? 2 : 1;
      }
      unitOf[n] = units;
      const cpOf = new Int32Array(units + 1);
      for (let i = 0; i <= n; i++) cpOf[unitOf[i]] = i;
      this.wideText = { text: parts.join(""), unitOf, cpOf };
    }
    return this.wideText;
  }
}

// Placeholders of llama.cpp's collapsed text, and the ASCII members of each category.
const COLLAPSED_OTHER = 0xd0;
const CATEGORY_UNITS: readonly [number, number][] = [
  [CPT_NUMBER, 0xd1],
  [CPT_LETTER, 0xd2],
  [CPT_PUNCTUATION, 0xd3],
  [CPT_MARK, 0xd4],
  [CPT_SYMBOL, 0xd5],
];

function collapsedUnit(flags: number): number {
  if (flags & CPT_WHITESPACE) return 0x0b;
  for (const [flag, unit] of CATEGORY_UNITS) if (flags & flag) return unit;
  return COLLAPSED_OTHER;
}

/**
 * What each category escape becomes inside a character class: the placeholder plus the category's ASCII
 * members. llama.cpp maps the letter subcategories to all letters; that is kept.
 */
const NUMBER_CLASS = "\\u00D10-9";
const LETTER_CLASS = "\\u00D2A-Za-z";
const CATEGORY_CLASSES: Readonly<Record<string, string>> = {
  "\\p{N}": NUMBER_CLASS,
  "\\p{L}": LETTER_CLASS,
  "\\p{Lu}": LETTER_CLASS,
  "\\p{Ll}": LETTER_CLASS,
  "\\p{Lt}": LETTER_CLASS,
  "\\p{Lm}": LETTER_CLASS,
  "\\p{Lo}": LETTER_CLASS,
  "\\p{P}": "\\u00D3!-#%-*,-/:-;?-@\\[-\\]_\\{\\}",
  "\\p{M}": "\\u00D4",
  "\\p{S}": "\\u00D5\\$\\+<->\\^`\\|~",
};

/** `\s` of std::regex in the C locale. */
const SPACE_CLASS = "\\t\\n\\v\\f\\r ";
/** Characters that JavaScript's `u` mode lets one escape (`-` only inside a class). */
const ESCAPABLE = "^$\\.*+?()[]{}|/";

/** Rewrites a llama.cpp pre-tokenizer expression into a JavaScript RegExp over the collapsed or wide text. */
function translateExpression(expression: string): { re: RegExp; collapsed: boolean } {
  const collapsed = Object.keys(CATEGORY_CLASSES).some((c) => expression.includes(c));
  let out = "";
  let inside = false;
  const chars = Array.from(expression);
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    if (ch === "\\") {
      const next = chars[++i] ?? "";
      if (next === "p" && chars[i + 1] === "{") {
        const close = chars.indexOf("}", i);
        const name = "\\" + chars.slice(i, close + 1).join("");
        const cls = CATEGORY_CLASSES[name];
        if (cls === undefined) throw new BitsmithError(`unsupported Unicode property ${name} in pre-tokenizer expression ${expression}`);
        out += inside ? cls : `[${cls}]`;
        i = close;
      } else if (next === "s") {
        out += inside ? SPACE_CLASS : `[${SPACE_CLASS}]`;
      } else if (next === "S" && !inside) {
        out += `[^${SPACE_CLASS}]`;
      } else if (/[A-Za-z0-9]/.test(next) || ESCAPABLE.includes(next)) {
        out += "\\" + next;
      } else if (next === "-") {
        out += inside ? "\\-" : "-";
      } else {
        out += next;
      }
      continue;
    }
    if (ch === "[") inside = true;
    else if (ch === "]" && inside) inside = false;
    // llama.cpp refuses this mix too: the collapsed text has no non-ASCII characters left to match.
    if (collapsed && ch.codePointAt(0)! >= 128) {
      throw new BitsmithError(`pre-tokenizer expression mixes Unicode categories and non-ASCII characters: ${expression}`);
    }
    out += ch;
  }
  return { re: new RegExp(out, collapsed ? "g" : "gu"), collapsed };
}

/** std::regex_iterator over each piece: matches and the gaps between them all become pieces. */
function regexSplitter(expression: string): Splitter {
  const { re, collapsed } = translateExpression(expression);
  return (text, pieces) => {
    const out: number[] = [];
    let start = 0;
    for (const length of pieces) {
      // Positions relative to the piece, in code points.
      let subject: string;
      let toCp: (unit: number) => number;
      if (collapsed) {
        subject = text.collapsed.slice(start, start + length);
        toCp = (u) => u;
      } else {
        const { text: wide, unitOf, cpOf } = text.wide;
        const u0 = unitOf[start];
        subject = wide.slice(u0, unitOf[start + length]);
        toCp = (u) => cpOf[u0 + u] - start;
      }
      let done = 0;
      re.lastIndex = 0;
      for (let m = re.exec(subject); m !== null; m = re.exec(subject)) {
        const from = toCp(m.index);
        const to = toCp(m.index + m[0].length);
        if (from > done) out.push(from - done);
        if (to > from) out.push(to - from);
        // An empty match only marks a boundary; step past it as regex_iterator does.
        else re.lastIndex += subject.codePointAt(re.lastIndex)! > 0xffff ? 2 : 1;
        done = Math.max(done, to);
      }
      if (done < length) out.push(length - done);
      start += length;
    }
    return out;
  };
}

/**
 * A hand-written scanner: `scan(cps, start, end, emit)` walks the piece [start, end) and calls emit(boundary) at
 * the end of every word; emit ignores empty words and returns the boundary, the new scan position.
 */
type Scan = (cps: readonly number[], start: number, end: number, emit: (to: number) => number) => void;

function scanner(scan: Scan): Splitter {
  return (text, pieces) => {
    const out: number[] = [];
    let start = 0;
    for (const length of pieces) {
      const end = start + length;
      let prev = start;
      scan(text.cps, start, end, (to) => {
        if (to > prev) out.push(to - prev);
        prev = to;
        return to;
      });
      start = end;
    }
    return out;
  };
}

const APOSTROPHE = 0x27;
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const NOT_PUNCT = CPT_WHITESPACE | CPT_LETTER | CPT_NUMBER;

/** Flags of position p of a piece [start, end), 0 outside it (llama.cpp's out-of-range flags). */
function flagsIn(cps: readonly number[], end: number, p: number): number {
  return p < end ? codepointFlags(cps[p]) : 0;
}

/** Length (2 or 3) of a contraction 's 't 'm 'd 're 've 'll at pos, or 0; `lower` folds ASCII case. */
function contractionLength(cps: readonly number[], pos: number, end: number, lower: boolean): number {
  if (cps[pos] !== APOSTROPHE || pos + 1 >= end) return 0;
  const fold = (c: number) => (lower && c >= 0x41 && c <= 0x5a ? c + 32 : c);
  const a = fold(cps[pos + 1]);
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2; // s t m d
  if (pos + 2 >= end) return 0;
  const b = fold(cps[pos + 2]);
  if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return 3; // re ve ll
  return 0;
}

/**
 * Runs of whitespace at pos: `\s+(?!\S)` leaves the last one for the next word when more text follows, else
 * `\s+`. Returns the new position, or pos when there is no whitespace.
 */
function whitespaceEnd(cps: readonly number[], pos: number, end: number): number {
  let n = 0;
  while (flagsIn(cps, end, pos + n) & CPT_WHITESPACE) n++;
  if (n > 1 && pos + n < end) return pos + n - 1;
  return pos + n;
}

/** 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
function scanGpt2(cps: readonly number[], start: number, end: number, emit: (to: number) => number): void {
  const at = (p: number) => flagsIn(cps, end, p);
  for (let pos = start; pos < end; ) {
    const c = contractionLength(cps, pos, end, false);
    if (c > 0) {
      pos = emit(pos + c);
      continue;
    }
    const lead = cps[pos] === SPACE ? 1 : 0;
    const f = at(pos + lead);
    if (f & CPT_LETTER || f & CPT_NUMBER) {
      const kind = f & CPT_LETTER ? CPT_LETTER : CPT_NUMBER;
      let p = pos + lead;
      while (at(p) & kind) p++;
      pos = emit(p);
      continue;
    }
    if (!(f & NOT_PUNCT) && f !== 0) {
      let p = pos + lead;
      while (!(at(p) & NOT_PUNCT) && at(p) !== 0) p++;
      pos = emit(p);
      continue;
    }
    const ws = whitespaceEnd(cps, pos, end);
    pos = emit(ws > pos ? ws : pos + 1);
  }
}

/**
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
function scanLlama3(cps: readonly number[], start: number, end: number, emit: (to: number) => number): void {
  const at = (p: number) => flagsIn(cps, end, p);
  for (let pos = start; pos < end; ) {
    const c = contractionLength(cps, pos, end, true);
    if (c > 0) {
      pos = emit(pos + c);
      continue;
    }
    const cp = cps[pos];
    const f = at(pos);
    if (!(cp === CR || cp === LF || f & CPT_NUMBER) && (f & CPT_LETTER || at(pos + 1) & CPT_LETTER)) {
      let p = pos + 1;
      while (at(p) & CPT_LETTER) p++;
      pos = emit(p);
      continue;
    }
    if (f & CPT_NUMBER) {
      let p = pos;
      while (at(p) & CPT_NUMBER) {
        p++;
        if (p - pos >= 3) pos = emit(p);
      }
      pos = emit(p);
      continue;
    }
    const lead = cp === SPACE ? 1 : 0;
    // llama.cpp tests the flags after the optional space but requires only the current position in range.
    if (!(at(pos + lead) & NOT_PUNCT) && f !== 0) {
      let p = pos + lead;
      while (!(at(p) & NOT_PUNCT) && at(p) !== 0) p++;
      while (p < end && (cps[p] === CR || cps[p] === LF)) p++;
      pos = emit(p);
      continue;
    }
    let n = 0;
    let afterLastNewline = 0;
    while (at(pos + n) & CPT_WHITESPACE) {
      if (cps[pos + n] === CR || cps[pos + n] === LF) afterLastNewline = pos + n + 1;
      n++;
    }
    if (afterLastNewline > 0) {
      pos = emit(afterLastNewline);
      continue;
    }
    const ws = whitespaceEnd(cps, pos, end);
    pos = emit(ws > pos ? ws : pos + 1);
  }
}
