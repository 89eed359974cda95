/**
 * The order llama-quantize writes tensors in. Its model loader keeps weights in a map sorted by layer: tensors
 * outside the `blk.N.` blocks first, then block by block in numeric order (blk.2 before blk.10), each group by
 * name in byte order. The order matters beyond the file layout: the recipe's per-layer counters (attn_v,
 * ffn_down) advance in it.
 */

/** Layer number as llama.cpp's `sscanf(name, "blk.%d.")` reads it; undefined outside blocks. */
export function parseBlockNumber(name: string): number | undefined {
  const m = /^blk\.\s*([+-]?\d+)/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Compares as C's strcmp on the UTF-8 bytes: code point order, which UTF-16 comparison breaks for surrogates. */
function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return utf8Rank(x) - utf8Rank(y);
  }
  return a.length - b.length;
}

/** Orders UTF-16 code units like the code points they belong to: surrogates above U+E000..U+FFFF. */
function utf8Rank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  if (unit >= 0xe000) return unit - 0x800;
  return unit;
}

/** llama.cpp's weight_name_comparer. */
export function compareWeightNames(a: string, b: string): number {
  const la = parseBlockNumber(a) ?? -1;
  const lb = parseBlockNumber(b) ?? -1;
  return la !== lb ? la - lb : compareUtf8(a, b);
}
