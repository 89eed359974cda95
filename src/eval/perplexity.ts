/**
 * Perplexity of a model on a token sequence, chunked by one of the protocols in chunks.ts. Each chunk runs from
 * an empty KV cache; several chunks may share one forward pass as independent sequences (that changes
 * nothing in the result: every row's arithmetic is the same either way).
 *
 * The scored logits of every chunk are also handed to observers (KL divergence against a base model, saving
 * base log-probabilities), so one pass over the text serves all of them.
 */
import { BitsmithError, silentProgress } from "../core/index.js";
import type { Progress } from "../core/index.js";
import type { ForwardResult, LogitsSelection } from "../engine/index.js";
import { firstScoredPosition, planChunks, scoredPerChunk } from "./chunks.js";
import type { EvalChunk, PerplexityProtocol } from "./chunks.js";
import { tokenNll } from "./log-softmax.js";

/** What the evaluation needs of a model (LlamaEngine provides it). */
export interface EvalModel {
  readonly vocabSize: number;
  /** Trained context length; longer evaluation contexts are refused unless allowed. */
  readonly contextLength: number;
  forwardBatch(sequences: readonly ArrayLike<number>[], options: { logits: LogitsSelection }): Promise<ForwardResult>;
}

/** One chunk's scored rows: logits[j] (row j, `vocab` wide) predicts input[firstScored + j + 1]. */
export interface ScoredChunk {
  chunk: EvalChunk;
  count: number;
  logits: Float32Array;
  vocab: number;
}

/** What an evaluation will do, announced to observers before the first chunk. */
export interface EvalPlan {
  protocol: PerplexityProtocol;
  ctx: number;
  chunks: readonly EvalChunk[];
  vocabSize: number;
  firstScored: number;
  scoredPerChunk: number;
}

/** Receives every chunk's scored logits (KL divergence, saving base log-probabilities). */
export interface ChunkObserver {
  begin?(plan: EvalPlan): void | Promise<void>;
  observe(scored: ScoredChunk): void | Promise<void>;
  /** After the last chunk. */
  end?(): void | Promise<void>;
  /** The evaluation failed: release what `begin` opened. */
  abort?(): void | Promise<void>;
}

export interface PerplexityOptions {
  /** Tokens per chunk (default 512, as llama-perplexity). */
  ctx?: number;
  protocol?: PerplexityProtocol;
  /** llama protocol: BOS id written over each chunk's first token (leave undefined when the model adds no BOS). */
  bosId?: number;
  maxChunks?: number;
  /** Chunks per forward pass (default: as many as fit in 512 tokens). */
  sequencesPerForward?: number;
  /** Evaluate with ctx above the model's trained context length (llama.cpp only warns). */
  allowLongContext?: boolean;
  progress?: Progress;
  observers?: readonly ChunkObserver[];
}

export interface PerplexityResult {
  protocol: PerplexityProtocol;
  ctx: number;
  chunks: number;
  /** Scored tokens. */
  count: number;
  ppl: number;
  /** llama-perplexity's ±: sqrt((mean(NLL²) − mean(NLL)²) / (count − 1)) · PPL. */
  pplError: number;
  meanNll: number;
  /** Per scored token NLL, in order (chunk by chunk). */
  nll: Float64Array;
  /** Running PPL after each chunk (llama-perplexity's [i]value list). */
  runningPpl: number[];
  tokensEvaluated: number;
  seconds: number;
}

export async function evaluatePerplexity(model: EvalModel, tokens: ArrayLike<number>, options: PerplexityOptions = {}): Promise<PerplexityResult> {
  const ctx = options.ctx ?? 512;
  const protocol = options.protocol ?? "llama";
  if (ctx > model.contextLength && !options.allowLongContext) {
    throw new BitsmithError(
      `context ${ctx} exceeds the model's trained context length ${model.contextLength}; results past it are not meaningful (allow it explicitly to evaluate anyway)`,
      { field: "ctx" },
    );
  }
  const chunks = planChunks(tokens, { ctx, protocol, bosId: options.bosId, maxChunks: options.maxChunks });
  const plan: EvalPlan = {
    protocol,
    ctx,
    chunks,
    vocabSize: model.vocabSize,
    firstScored: firstScoredPosition(ctx, protocol),
    scoredPerChunk: scoredPerChunk(ctx, protocol),
  };
  const observers = options.observers ?? [];
  const started = performance.now();
  let scores: NllSums;
  try {
    for (const o of observers) await o.begin?.(plan);
    scores = await scoreChunks(model, plan, options, observers);
    for (const o of observers) await o.end?.();
  } catch (e) {
    for (const o of observers) await o.abort?.();
    throw e;
  }
  const { count, sum, sum2 } = scores;
  const mean = sum / count;
  const ppl = Math.exp(mean);
  const variance = sum2 / count - mean * mean;
  return {
    protocol,
    ctx,
    chunks: chunks.length,
    count,
    ppl,
    pplError: variance > 0 && count > 1 ? Math.sqrt(variance / (count - 1)) * ppl : 0,
    meanNll: mean,
    nll: scores.nll,
    runningPpl: scores.runningPpl,
    tokensEvaluated: chunks.length * ctx,
    seconds: (performance.now() - started) / 1000,
  };
}

interface NllSums {
  nll: Float64Array;
  runningPpl: number[];
  count: number;
  sum: number;
  sum2: number;
}

/** Runs the chunks (several per forward pass), scores each position's next token, feeds the observers. */
async function scoreChunks(model: EvalModel, plan: EvalPlan, options: PerplexityOptions, observers: readonly ChunkObserver[]): Promise<NllSums> {
  const { chunks, ctx, firstScored: first, scoredPerChunk: perChunk } = plan;
  const perForward = Math.max(1, options.sequencesPerForward ?? Math.floor(512 / ctx));
  const progress = options.progress ?? silentProgress;
  const r: NllSums = { nll: new Float64Array(chunks.length * perChunk), runningPpl: [], count: 0, sum: 0, sum2: 0 };
  progress.start("perplexity", chunks.length * ctx, "tokens");
  for (let c0 = 0; c0 < chunks.length; c0 += perForward) {
    const group = chunks.slice(c0, c0 + perForward);
    const out = await model.forwardBatch(
      group.map((c) => c.input),
      { logits: { from: first } },
    );
    const vocab = out.vocabSize;
    for (let s = 0; s < group.length; s++) {
      const chunk = group[s]!;
      const row = out.sequences[s]!.row;
      const logits = out.logits.subarray(row * vocab, (row + perChunk) * vocab);
      for (let j = 0; j < perChunk; j++) {
        const v = tokenNll(logits, j * vocab, vocab, chunk.input[first + j + 1]!);
        r.nll[r.count++] = v;
        r.sum += v;
        r.sum2 += v * v;
      }
      r.runningPpl.push(Math.exp(r.sum / r.count));
      for (const o of observers) await o.observe({ chunk, count: perChunk, logits, vocab });
      progress.advance(ctx, `PPL ${r.runningPpl[r.runningPpl.length - 1]!.toFixed(4)}`);
    }
  }
  progress.finish();
  return r;
}
