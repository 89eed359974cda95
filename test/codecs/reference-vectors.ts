/**
 * llama.cpp's quantizer vectors (reference/quant, see its README section 1): for each case of a type, our
 * quantize must give the same bytes as ggml_quantize_chunk, and our dequantize of ggml's bytes must give the
 * same float32 bit patterns as ggml's to_float.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { REFERENCE } from "../helpers/paths.js";
import { getCodec } from "../../src/codecs/index.js";

export const QUANT_DIR = path.join(REFERENCE, "quant");

export interface VectorEntry {
  type: string;
  case: string;
  variant: "plain" | "imatrix";
  nrows: number;
  n_per_row: number;
  block_size: number;
  type_size: number;
  files: { in: string; imatrix: string | null; out: string; deq: string };
}

export function vectorEntries(type: string): VectorEntry[] {
  const manifest = JSON.parse(readFileSync(path.join(QUANT_DIR, "manifest.json"), "utf8")) as { entries: VectorEntry[] };
  return manifest.entries.filter((e) => e.type === type);
}

function readF32(file: string): Float32Array {
  const b = readFileSync(path.join(QUANT_DIR, file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

function readBytes(file: string): Uint8Array {
  return new Uint8Array(readFileSync(path.join(QUANT_DIR, file)));
}

/** Compares one entry; returns a description of the first difference, or undefined when identical. */
export function compareEntry(e: VectorEntry): string | undefined {
  const codec = getCodec(e.type);
  if (!codec) return `no codec for ${e.type}`;
  const input = readF32(e.files.in);
  const imatrix = e.variant === "imatrix" && e.files.imatrix ? readF32(e.files.imatrix) : undefined;
  const expected = readBytes(e.files.out);
  const label = `${e.type} ${e.case} ${e.variant}`;
  const got = codec.quantize(input, e.nrows, e.n_per_row, imatrix);
  if (got.length !== expected.length) return `${label}: ${got.length} bytes, expected ${expected.length}`;
  for (let i = 0; i < got.length; i++) {
    if (got[i] !== expected[i]) {
      const block = Math.floor(i / e.type_size);
      return `${label}: quantize differs first in block ${block} (byte ${i % e.type_size} of the block: got ${got[i]}, expected ${expected[i]})`;
    }
  }
  const deqExpected = new Uint32Array(readF32(e.files.deq).buffer);
  const deq = new Uint32Array(codec.dequantize(expected, e.nrows * e.n_per_row).buffer);
  for (let i = 0; i < deq.length; i++) {
    if (deq[i] !== deqExpected[i]) {
      return `${label}: dequantize differs first in block ${Math.floor(i / e.block_size)} (value ${i}: got 0x${deq[i]!.toString(16)}, expected 0x${deqExpected[i]!.toString(16)})`;
    }
  }
  return undefined;
}

/** Every failing entry of the given types, one line each. */
export function failingEntries(types: readonly string[]): string[] {
  const failures: string[] = [];
  for (const t of types) {
    const entries = vectorEntries(t);
    if (entries.length === 0) failures.push(`${t}: no reference entries`);
    for (const e of entries) {
      const f = compareEntry(e);
      if (f) failures.push(f);
    }
  }
  return failures;
}
