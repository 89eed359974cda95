/**
 * Text generation with a KV cache: the prompt is run once as a batch, then one token per step. Sampling is
 * greedy at temperature 0, otherwise softmax(logits / temperature) restricted to the smallest set of tokens
 * whose probability reaches top-p (nucleus sampling), drawn with a seeded generator so runs repeat.
 */
import { BitsmithError, SeededRandom } from "../core/index.js";
import type { LlamaEngine } from "./llama-engine.js";

export interface SamplingOptions {
  /** 0 (default): always the most probable token. */
  temperature?: number;
  /** Nucleus mass, in (0, 1]; default 0.95 (1 = the whole distribution). */
  topP?: number;
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most (default 64). */
  maxTokens?: number;
  /** Stop after a token for which this returns true (end of generation); it is included in the result. */
  isEnd?: (id: number) => boolean;
  /** Called with each new token as it is produced. */
  onToken?: (id: number) => void | Promise<void>;
}

/** Picks the next token from one row of logits. */
export function sampleToken(logits: Float32Array, options: SamplingOptions, random: SeededRandom): number {
  const temperature = options.temperature ?? 0;
  const topP = options.topP ?? 0.95;
  if (!(temperature >= 0)) throw new BitsmithError(`temperature ${temperature} must be ≥ 0`, { field: "temp" });
  if (!(topP > 0 && topP <= 1)) throw new BitsmithError(`top-p ${topP} must be in (0, 1]`, { field: "top-p" });
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature === 0) return best;

  const max = logits[best]!;
  const probs = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += probs[i] = Math.exp((logits[i]! - max) / temperature);
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]!);
  let kept = 0;
  let mass = 0;
  while (kept < order.length && (kept === 0 || mass < topP * sum)) mass += probs[order[kept++]!]!;
  let r = random.next() * mass;
  for (let k = 0; k < kept; k++) {
    r -= probs[order[k]!]!;
    if (r < 0) return order[k]!;
  }
  return order[kept - 1]!;
}

/** Continues `prompt` (token ids, BOS included if the model wants one); returns the generated ids. */
export async function generateTokens(engine: LlamaEngine, prompt: readonly number[], options: GenerateOptions = {}): Promise<number[]> {
  if (prompt.length === 0) throw new BitsmithError("the prompt is empty (no tokens)", { field: "prompt" });
  const maxTokens = options.maxTokens ?? 64;
  const limit = engine.contextLength;
  if (prompt.length + maxTokens > limit) {
    throw new BitsmithError(`prompt (${prompt.length} tokens) plus ${maxTokens} new tokens exceed the model's context of ${limit}`, { field: "n" });
  }
  const random = new SeededRandom(options.seed ?? 0);
  const cache = engine.newCache(prompt.length + maxTokens, limit);
  const out: number[] = [];
  let input: readonly number[] = prompt;
  while (out.length < maxTokens) {
    const { logits } = await engine.forward(input, { caches: [cache], logits: "last" });
    const id = sampleToken(logits, options, random);
    out.push(id);
    await options.onToken?.(id);
    if (options.isEnd?.(id)) break;
    input = [id];
  }
  return out;
}
