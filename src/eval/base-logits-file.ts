/**
 * A compact file of a base model's next-token distributions on an evaluation text, so KL divergence of other
 * models (quantized variants) can be measured later without running the base model again.
 *
 * llama.cpp's --kl-divergence-base file stores every position's full log-probability vector as uint16
 * (2 bytes × vocabulary per token: 64 KB for a 32k vocabulary, 256 KB for 128k). bitsmith stores, per scored
 * position, only the most probable tokens: the smallest set whose probabilities sum to at least `coverage`
 * (default 0.9999), at most `maxTokens` (default 256), at least one; each as a uint32 id and a float32
 * log-probability, plus the exact float32 log-probability of the token that follows. The excluded tail is
 * treated as one bucket when computing KL divergence (see kl-divergence.ts).
 *
 * Layout (little-endian):
 *   bytes 0..7    magic "BSMLOGP1"
 *   uint32        length H of the JSON header
 *   H bytes       JSON (UTF-8): BaseLogitsHeader
 *   int32[chunks × ctx]   the evaluated tokens, chunk by chunk, as fed to the model (BOS replacement applied)
 *   per chunk:    uint32 byte length L of the chunk's records, then L bytes: scoredPerChunk records of
 *                 uint16 n, uint16 0, float32 target log-prob, uint32 ids[n], float32 log-probs[n]
 *                 (ids in decreasing probability)
 */
import { BitsmithError, utf8, utf8Encoder } from "../core/index.js";
import type { ByteSink, ByteSource } from "../core/index.js";
import type { EvalChunk, PerplexityProtocol } from "./chunks.js";
import type { BaseDistribution } from "./kl-divergence.js";
import { normalizeRow } from "./log-softmax.js";

const MAGIC = "BSMLOGP1";

export interface BaseLogitsHeader {
  format: "bitsmith-base-logprobs";
  version: 1;
  protocol: PerplexityProtocol;
  ctx: number;
  chunks: number;
  vocabSize: number;
  firstScored: number;
  scoredPerChunk: number;
  coverage: number;
  maxTokens: number;
  /** The base model, for messages. */
  model: string;
}

export interface TopTokenOptions {
  coverage?: number;
  maxTokens?: number;
}

/** Indices of the `k` largest values of row (descending), by a bounded min-heap: O(vocab · log k). */
function topIndices(logits: Float32Array, offset: number, vocab: number, k: number): Int32Array {
  const heap = new Int32Array(k);
  let size = 0;
  const less = (a: number, b: number) => logits[offset + a]! < logits[offset + b]! || (logits[offset + a] === logits[offset + b] && a > b);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && less(heap[l]!, heap[m]!)) m = l;
      if (r < size && less(heap[r]!, heap[m]!)) m = r;
      if (m === i) return;
      const t = heap[i]!;
      heap[i] = heap[m]!;
      heap[m] = t;
      i = m;
    }
  };
  for (let i = 0; i < vocab; i++) {
    if (size < k) {
      heap[size] = i;
      for (let c = size++; c > 0; ) {
        const p = (c - 1) >> 1;
        if (!less(heap[c]!, heap[p]!)) break;
        const t = heap[c]!;
        heap[c] = heap[p]!;
        heap[p] = t;
        c = p;
      }
    } else if (less(heap[0]!, i)) {
      heap[0] = i;
      siftDown(0);
    }
  }
  return heap.slice(0, size).sort((a, b) => (less(a, b) ? 1 : less(b, a) ? -1 : 0));
}

/** The most probable tokens of a row of logits covering `coverage` of the probability, as stored in the file. */
export function topTokens(logits: Float32Array, offset: number, vocab: number, token: number, options: TopTokenOptions = {}): BaseDistribution {
  const coverage = options.coverage ?? 0.9999;
  const maxTokens = Math.min(options.maxTokens ?? 256, vocab);
  const n = normalizeRow(logits, offset, vocab);
  const order = topIndices(logits, offset, vocab, maxTokens);
  const logProbs = new Float32Array(order.length);
  let mass = 0;
  let count = 0;
  while (count < order.length && (count === 0 || mass < coverage)) {
    const lp = logits[offset + order[count]!]! - n.max - n.logSum;
    logProbs[count++] = lp;
    mass += Math.exp(lp);
  }
  return {
    targetLogProb: Math.fround(logits[offset + token]! - n.max - n.logSum),
    top: order[0]!,
    ids: order.subarray(0, count),
    logProbs: logProbs.subarray(0, count),
    count,
  };
}

function recordBytes(d: BaseDistribution): number {
  return 8 + 8 * d.count;
}

export class BaseLogitsWriter {
  private chunksWritten = 0;

  private constructor(
    private readonly sink: ByteSink,
    readonly header: BaseLogitsHeader,
  ) {}

  /** Starts a file: writes the header and the chunks' tokens. */
  static async create(sink: ByteSink, header: Omit<BaseLogitsHeader, "format" | "version">, chunks: readonly EvalChunk[]): Promise<BaseLogitsWriter> {
    const full: BaseLogitsHeader = { format: "bitsmith-base-logprobs", version: 1, ...header };
    const json = utf8Encoder.encode(JSON.stringify(full));
    const head = new Uint8Array(12 + json.length);
    head.set(utf8Encoder.encode(MAGIC), 0);
    new DataView(head.buffer).setUint32(8, json.length, true);
    head.set(json, 12);
    await sink.write(head);
    const tokens = new Uint8Array(chunks.length * header.ctx * 4);
    const view = new DataView(tokens.buffer);
    chunks.forEach((c, i) => c.input.forEach((t, j) => view.setInt32((i * header.ctx + j) * 4, t, true)));
    await sink.write(tokens);
    return new BaseLogitsWriter(sink, full);
  }

  /** Appends one chunk's distributions (scoredPerChunk of them, in position order). */
  async writeChunk(distributions: readonly BaseDistribution[]): Promise<void> {
    const size = distributions.reduce((n, d) => n + recordBytes(d), 0);
    const bytes = new Uint8Array(4 + size);
    const v = new DataView(bytes.buffer);
    v.setUint32(0, size, true);
    let o = 4;
    for (const d of distributions) {
      v.setUint16(o, d.count, true);
      v.setUint16(o + 2, 0, true);
      v.setFloat32(o + 4, d.targetLogProb, true);
      o += 8;
      for (let j = 0; j < d.count; j++) v.setUint32(o + 4 * j, d.ids[j]!, true);
      o += 4 * d.count;
      for (let j = 0; j < d.count; j++) v.setFloat32(o + 4 * j, d.logProbs[j]!, true);
      o += 4 * d.count;
    }
    await this.sink.write(bytes);
    this.chunksWritten++;
  }

  async commit(): Promise<void> {
    if (this.chunksWritten !== this.header.chunks) {
      await this.sink.abort();
      throw new BitsmithError(`wrote ${this.chunksWritten} of ${this.header.chunks} chunks`, { file: this.sink.name });
    }
    await this.sink.commit();
  }

  abort(): Promise<void> {
    return this.sink.abort();
  }
}

export class BaseLogitsReader {
  private offset: number;
  private chunksRead = 0;

  private constructor(
    private readonly source: ByteSource,
    readonly header: BaseLogitsHeader,
    /** The evaluated tokens, [chunks × ctx]. */
    readonly tokens: Int32Array,
    dataOffset: number,
  ) {
    this.offset = dataOffset;
  }

  static async open(source: ByteSource): Promise<BaseLogitsReader> {
    const file = source.name;
    const fail = (message: string, field: string) => new BitsmithError(message, { file, field });
    if (source.size < 12) throw fail(`${source.size} bytes is too short for a base log-probability file`, "header");
    const head = await source.read(0, 12);
    if (String.fromCharCode(...head.subarray(0, 8)) !== MAGIC) throw fail(`not a bitsmith base log-probability file (magic is not "${MAGIC}")`, "magic");
    const jsonLength = new DataView(head.buffer, head.byteOffset, 12).getUint32(8, true);
    if (12 + jsonLength > source.size) throw fail(`header length ${jsonLength} exceeds the file size ${source.size}`, "header");
    let header: BaseLogitsHeader;
    try {
      header = JSON.parse(utf8.decode(await source.read(12, jsonLength))) as BaseLogitsHeader;
    } catch (e) {
      throw fail(`invalid JSON: ${(e as Error).message}`, "header");
    }
    if (header.format !== "bitsmith-base-logprobs" || header.version !== 1) throw fail(`unsupported format ${header.format} version ${header.version}`, "header");
    for (const key of ["ctx", "chunks", "vocabSize", "firstScored", "scoredPerChunk"] as const) {
      if (!Number.isSafeInteger(header[key]) || header[key] < 0) throw fail(`${key} is ${header[key]}`, `header.${key}`);
    }
    const tokenBytes = header.chunks * header.ctx * 4;
    if (12 + jsonLength + tokenBytes > source.size) throw fail(`${header.chunks} chunks of ${header.ctx} tokens exceed the file size`, "tokens");
    const raw = await source.read(12 + jsonLength, tokenBytes);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const tokens = Int32Array.from({ length: header.chunks * header.ctx }, (_, i) => view.getInt32(i * 4, true));
    return new BaseLogitsReader(source, header, tokens, 12 + jsonLength + tokenBytes);
  }

  /** The next chunk's distributions, in position order. */
  async readChunk(): Promise<BaseDistribution[]> {
    const file = this.source.name;
    const field = `chunk ${this.chunksRead}`;
    if (this.chunksRead >= this.header.chunks) throw new BitsmithError(`the file holds only ${this.header.chunks} chunks`, { file, field });
    if (this.offset + 4 > this.source.size) throw new BitsmithError("truncated", { file, field });
    const lenBytes = await this.source.read(this.offset, 4);
    const size = new DataView(lenBytes.buffer, lenBytes.byteOffset, 4).getUint32(0, true);
    if (this.offset + 4 + size > this.source.size) throw new BitsmithError(`record length ${size} exceeds the file size`, { file, field });
    const bytes = await this.source.read(this.offset + 4, size);
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out: BaseDistribution[] = [];
    let o = 0;
    for (let p = 0; p < this.header.scoredPerChunk; p++) {
      if (o + 8 > size) throw new BitsmithError(`record ${p} is truncated`, { file, field });
      const count = v.getUint16(o, true);
      const targetLogProb = v.getFloat32(o + 4, true);
      o += 8;
      if (count < 1 || o + 8 * count > size) throw new BitsmithError(`record ${p} has ${count} tokens, outside the chunk's ${size} bytes`, { file, field });
      const ids = new Uint32Array(count);
      const logProbs = new Float32Array(count);
      for (let j = 0; j < count; j++) {
        ids[j] = v.getUint32(o + 4 * j, true);
        if (ids[j]! >= this.header.vocabSize) throw new BitsmithError(`record ${p}: token id ${ids[j]} outside the vocabulary`, { file, field });
      }
      o += 4 * count;
      for (let j = 0; j < count; j++) logProbs[j] = v.getFloat32(o + 4 * j, true);
      o += 4 * count;
      out.push({ targetLogProb, top: ids[0]!, ids, logProbs, count });
    }
    if (o !== size) throw new BitsmithError(`chunk holds ${size - o} bytes more than its ${this.header.scoredPerChunk} records`, { file, field });
    this.offset += 4 + size;
    this.chunksRead++;
    return out;
  }

  close(): Promise<void> {
    return this.source.close?.() ?? Promise.resolve();
  }
}
