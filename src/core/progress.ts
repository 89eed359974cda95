/**
 * Progress reporting for long work. The library reports amounts done; a front end (the CLI's stderr bar, a web
 * page) renders them. Amounts are in whatever unit the work counts (bytes, tensors, tokens).
 */
import type { TensorTypeInfo } from "./tensor-types.js";

export interface Progress {
  start(label: string, total: number, unit?: string): void;
  advance(amount: number, detail?: string): void;
  finish(): void;
}

export const silentProgress: Progress = {
  start() {},
  advance() {},
  finish() {},
};

/** What a streaming writer pulls: a tensor's description and its bytes on request. */
export interface ReadableTensor {
  readonly name: string;
  readonly type: TensorTypeInfo;
  readonly shape: readonly number[];
  read(): Promise<Uint8Array>;
}

/** The same tensors, each reporting its bytes to `progress` once the writer has read it. */
export function reportingReads(tensors: readonly ReadableTensor[], progress: Progress): ReadableTensor[] {
  return tensors.map((t) => ({
    name: t.name,
    type: t.type,
    shape: t.shape,
    async read() {
      const bytes = await t.read();
      progress.advance(bytes.length, t.name);
      return bytes;
    },
  }));
}
