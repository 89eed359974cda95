/**
 * How an evaluation text is cut into model inputs, for the two perplexity protocols in use:
 *
 *  - "llama" (llama-perplexity): n_chunk = floor(n_tokens / ctx) chunks of ctx tokens; the first token of every
 *    chunk is replaced by BOS (when the vocabulary adds BOS); only positions ctx/2 .. ctx-2 are scored (each
 *    predicts the next token), the first half serving as context. llama.cpp refuses texts shorter than 2·ctx.
 *  - "gptq" (the GPTQ/AWQ papers' scripts): the whole text tokenized once (BOS only at its start),
 *    floor(n_tokens / ctx) non-overlapping windows, every position 0 .. ctx-2 scored against the shifted
 *    labels, no BOS replacement.
 */
import { BitsmithError } from "../core/index.js";

export type PerplexityProtocol = "llama" | "gptq";

export interface ChunkPlanOptions {
  ctx: number;
  protocol: PerplexityProtocol;
  /** llama protocol: the id written over each chunk's first token; undefined = no replacement. */
  bosId?: number;
  /** At most this many chunks (default: all). */
  maxChunks?: number;
}

export interface EvalChunk {
  index: number;
  /** The ctx tokens fed to the model. */
  input: Int32Array;
  /** The first position whose logits are scored; positions firstScored .. ctx-2 predict input[p + 1]. */
  firstScored: number;
}

/** Positions scored per chunk. */
export function scoredPerChunk(ctx: number, protocol: PerplexityProtocol): number {
  return ctx - 1 - firstScoredPosition(ctx, protocol);
}

export function firstScoredPosition(ctx: number, protocol: PerplexityProtocol): number {
  return protocol === "llama" ? Math.floor(ctx / 2) : 0;
}

export function planChunks(tokens: ArrayLike<number>, options: ChunkPlanOptions): EvalChunk[] {
  const { ctx, protocol } = options;
  if (protocol !== "llama" && protocol !== "gptq") throw new BitsmithError(`unknown protocol "${protocol}" (llama, gptq)`, { field: "protocol" });
  const minCtx = protocol === "llama" ? 4 : 2;
  if (!Number.isSafeInteger(ctx) || ctx < minCtx) throw new BitsmithError(`context size ${ctx} is too small (at least ${minCtx})`, { field: "ctx" });
  const needed = protocol === "llama" ? 2 * ctx : ctx;
  if (tokens.length < needed) {
    const why = protocol === "llama" ? ` (llama-perplexity needs 2 × ctx = ${needed})` : ` (one window of ${ctx})`;
    throw new BitsmithError(`the text has ${tokens.length} tokens, fewer than ${needed}${why}; use a longer text or a smaller --ctx`, { field: "text" });
  }
  const available = Math.floor(tokens.length / ctx);
  const maxChunks = options.maxChunks ?? available;
  if (!Number.isSafeInteger(maxChunks) || maxChunks < 1) throw new BitsmithError(`chunk count ${maxChunks} must be at least 1`, { field: "chunks" });
  const n = Math.min(available, maxChunks);
  const first = firstScoredPosition(ctx, protocol);
  const chunks: EvalChunk[] = [];
  for (let i = 0; i < n; i++) {
    const input = Int32Array.from({ length: ctx }, (_, j) => tokens[i * ctx + j]!);
    if (protocol === "llama" && options.bosId !== undefined) input[0] = options.bosId;
    chunks.push({ index: i, input, firstScored: first });
  }
  return chunks;
}
