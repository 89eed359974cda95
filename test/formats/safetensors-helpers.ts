/** Shared by the safetensors tests: temporary directories, hand-built files, and error matching. */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import { BitsmithError, tensorTypeBySafetensors } from "../../src/core/index.js";
import type { ByteSource, TensorTypeInfo } from "../../src/core/index.js";
import type { TensorToWrite } from "../../src/formats/safetensors/index.js";

/** Runs `body` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bitsmith-st-"));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function stType(dtype: string): TensorTypeInfo {
  const t = tensorTypeBySafetensors(dtype);
  assert.ok(t, `type table lacks ${dtype}`);
  return t;
}

export function tensorToWrite(name: string, dtype: string, shape: number[], bytes: Uint8Array): TensorToWrite {
  return { name, type: stType(dtype), shape, read: async () => bytes };
}

/** A file made by hand: the u64 length of `header` (or `declaredLength`), the header text, then `data`. */
export function rawFile(header: string, data: Uint8Array | number = 0, declaredLength?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const body = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setBigUint64(0, declaredLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

/** A deterministic byte pattern (xorshift32), so failures reproduce. */
export function patternBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Wraps a source and records every read, to prove what is (and is not) read. */
export class RecordingSource implements ByteSource {
  readonly reads: [number, number][] = [];
  constructor(private readonly inner: ByteSource) {}
  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  read(offset: number, length: number): Promise<Uint8Array> {
    this.reads.push([offset, length]);
    return this.inner.read(offset, length);
  }
}

/** Asserts that `promise` rejects with a BitsmithError naming `file` and `field` and matching `message`. */
export async function rejectsWith(promise: Promise<unknown>, file: string, field: string | undefined, message: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof BitsmithError, `expected a BitsmithError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.equal(e.field, field);
    assert.match(e.message, message);
    return true;
  });
}
