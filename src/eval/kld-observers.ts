/**
 * Chunk observers that turn a perplexity pass into a KL-divergence measurement or record a base model's
 * distributions:
 *  - LiveBaseKld runs the base model on each chunk alongside (exact: whole-vocabulary distributions);
 *  - SavedBaseKld reads them from a base log-probability file (base-logits-file.ts);
 *  - BaseLogitsRecorder writes such a file from the model being evaluated.
 */
import { BitsmithError } from "../core/index.js";
import type { ByteSink } from "../core/index.js";
import { BaseLogitsReader, BaseLogitsWriter, topTokens } from "./base-logits-file.js";
import type { TopTokenOptions } from "./base-logits-file.js";
import { fullDistribution, KldAccumulator } from "./kl-divergence.js";
import type { BaseDistribution } from "./kl-divergence.js";
import type { ChunkObserver, EvalModel, EvalPlan, ScoredChunk } from "./perplexity.js";

function addChunk(kld: KldAccumulator, scored: ScoredChunk, base: (j: number, target: number) => BaseDistribution): void {
  const { chunk, count, logits, vocab } = scored;
  for (let j = 0; j < count; j++) {
    const target = chunk.input[chunk.firstScored + j + 1]!;
    kld.add(logits, j * vocab, vocab, target, base(j, target));
  }
}

export class LiveBaseKld implements ChunkObserver {
  readonly kld = new KldAccumulator();
  private scratch?: { ids: Int32Array; logProbs: Float64Array };

  constructor(private readonly base: EvalModel) {}

  begin(plan: EvalPlan): void {
    if (this.base.vocabSize !== plan.vocabSize) {
      throw new BitsmithError(`the base model has ${this.base.vocabSize} tokens, the evaluated model ${plan.vocabSize}: KL divergence needs the same vocabulary`, { field: "kld-base" });
    }
    this.scratch = { ids: Int32Array.from({ length: plan.vocabSize }, (_, i) => i), logProbs: new Float64Array(plan.vocabSize) };
  }

  async observe(scored: ScoredChunk): Promise<void> {
    const out = await this.base.forwardBatch([scored.chunk.input], { logits: { from: scored.chunk.firstScored } });
    addChunk(this.kld, scored, (j, target) => fullDistribution(out.logits, j * out.vocabSize, out.vocabSize, target, this.scratch!));
  }
}

export class SavedBaseKld implements ChunkObserver {
  readonly kld = new KldAccumulator();

  constructor(private readonly reader: BaseLogitsReader) {}

  /** Checks the file was made with the same protocol, context, vocabulary and tokens. */
  begin(plan: EvalPlan): void {
    const h = this.reader.header;
    const file = "base log-probabilities";
    const mismatch = (what: string, saved: unknown, now: unknown) =>
      new BitsmithError(`${what} is ${JSON.stringify(saved)} in the file but ${JSON.stringify(now)} now`, { field: file });
    if (h.protocol !== plan.protocol) throw mismatch("protocol", h.protocol, plan.protocol);
    if (h.ctx !== plan.ctx) throw mismatch("context size", h.ctx, plan.ctx);
    if (h.vocabSize !== plan.vocabSize) throw mismatch("vocabulary size", h.vocabSize, plan.vocabSize);
    if (h.chunks < plan.chunks.length) throw mismatch("chunk count", h.chunks, plan.chunks.length);
    plan.chunks.forEach((c, i) => {
      for (let j = 0; j < plan.ctx; j++) {
        if (this.reader.tokens[i * plan.ctx + j] !== c.input[j]) {
          throw new BitsmithError(`chunk ${i} token ${j} differs from the file's: the base log-probabilities were computed on another text or tokenization`, { field: file });
        }
      }
    });
  }

  async observe(scored: ScoredChunk): Promise<void> {
    const base = await this.reader.readChunk();
    addChunk(this.kld, scored, (j) => base[j]!);
  }
}

export class BaseLogitsRecorder implements ChunkObserver {
  private writer?: BaseLogitsWriter;

  constructor(
    private readonly sink: ByteSink,
    private readonly model: string,
    private readonly options: TopTokenOptions = {},
  ) {}

  async begin(plan: EvalPlan): Promise<void> {
    const { protocol, ctx, chunks, vocabSize, firstScored, scoredPerChunk } = plan;
    this.writer = await BaseLogitsWriter.create(
      this.sink,
      {
        protocol,
        ctx,
        chunks: chunks.length,
        vocabSize,
        firstScored,
        scoredPerChunk,
        coverage: this.options.coverage ?? 0.9999,
        maxTokens: this.options.maxTokens ?? 256,
        model: this.model,
      },
      chunks,
    );
  }

  async observe({ chunk, count, logits, vocab }: ScoredChunk): Promise<void> {
    const rows: BaseDistribution[] = [];
    for (let j = 0; j < count; j++) rows.push(topTokens(logits, j * vocab, vocab, chunk.input[chunk.firstScored + j + 1]!, this.options));
    await this.writer!.writeChunk(rows);
  }

  async end(): Promise<void> {
    await this.writer!.commit();
  }

  async abort(): Promise<void> {
    await this.sink.abort();
  }
}
