/**
 * llama-imatrix's computation: run the model over a text in chunks of `ctx` tokens (the first token of each
 * replaced by BOS), and for every weight matrix sum the squares of its input activations per column over all
 * tokens. Sums are kept in float32, added in token order, as llama-imatrix keeps them, so files compare
 * like for like; the counts are the tokens seen.
 */
import { silentProgress } from "../core/index.js";
import type { Progress } from "../core/index.js";
import type { LlamaEngine } from "../engine/index.js";
import { planChunks } from "../eval/index.js";
import { sortedEntries } from "../formats/imatrix/index.js";
import type { Imatrix, ImatrixEntry } from "../formats/imatrix/index.js";

export interface ImatrixOptions {
  ctx: number;
  /** At most this many chunks (default: all the text holds). */
  maxChunks?: number;
  bosId?: number;
  /** Also collect output.weight, which llama-imatrix leaves out unless --process-output. */
  processOutput?: boolean;
  /** Chunks evaluated per forward pass. */
  batchChunks?: number;
  /** Recorded as imatrix.datasets. */
  dataset: string;
  progress?: Progress;
}

export async function computeImatrix(engine: LlamaEngine, tokens: ArrayLike<number>, options: ImatrixOptions): Promise<Imatrix> {
  const chunks = planChunks(tokens, { ctx: options.ctx, protocol: "llama", bosId: options.bosId, maxChunks: options.maxChunks });
  const sums = new Map<string, Float32Array>();
  const counts = new Map<string, number>();
  const progress = options.progress ?? silentProgress;
  const batch = options.batchChunks ?? 4;
  progress.start("imatrix", chunks.length * options.ctx, "tokens");
  for (let i = 0; i < chunks.length; i += batch) {
    const group = chunks.slice(i, i + batch);
    await engine.forwardBatch(
      group.map((c) => c.input),
      {
        logits: "none",
        onLinearInput(name, x, rows, cols) {
          if (name === "output.weight" && !options.processOutput) return;
          let s = sums.get(name);
          if (!s) sums.set(name, (s = new Float32Array(cols)));
          for (let r = 0; r < rows; r++) {
            const o = r * cols;
            for (let c = 0; c < cols; c++) s[c] = s[c]! + Math.fround(x[o + c]! * x[o + c]!);
          }
          counts.set(name, (counts.get(name) ?? 0) + rows);
        },
      },
    );
    progress.advance(group.length * options.ctx);
  }
  progress.finish();
  const entries: [string, ImatrixEntry][] = [...sums].map(([name, s]) => [name, { sums: s, counts: Float64Array.of(counts.get(name)!) }]);
  return { source: options.dataset, layout: "gguf", entries: sortedEntries(entries), datasets: [options.dataset], chunkCount: chunks.length, chunkSize: options.ctx };
}
