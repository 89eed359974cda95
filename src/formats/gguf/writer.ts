/**
 * Writes GGUF v3 files in llama.cpp's layout: key/values in the order given, tensor infos in the order added,
 * tensor data packed in that same order, each tensor padded with zeros to the alignment (also the last), the
 * header padded likewise. A file llama.cpp wrote therefore comes back byte-identical through
 * readGguf -> GgufWriter.from -> write.
 *
 * Tensor bytes are produced on demand, one tensor at a time, and streamed to a ByteSink; any failure aborts
 * the sink, so no partial file is left. Splitting writes gguf-split's shard layout (see split-files.ts).
 */
import { BitsmithError, tensorByteSize, utf8Encoder } from "../../core/index.js";
import type { ByteSink, FileSystemLike, TensorRef, TensorTypeInfo } from "../../core/index.js";
import { encodeGgufHeader } from "./header-encoder.js";
import { GGML_MAX_DIMS, GGUF_KEY_ALIGNMENT, alignUp, ggufAlignment } from "./reader.js";
import { GGUF_KEY_SPLIT_COUNT, GGUF_KEY_SPLIT_NO, GGUF_KEY_SPLIT_TENSORS_COUNT, ggufSplitPath, isSplitKey } from "./split-files.js";
import { checkGgufValue, gguf } from "./values.js";
import type { GgufMetadata, GgufValue } from "./values.js";

/** ggml's GGML_MAX_NAME: names are stored in a 64-byte field with a terminating NUL. */
const GGML_MAX_NAME = 64;

export interface GgufTensorSpec {
  readonly name: string;
  readonly type: TensorTypeInfo;
  /** Dimensions outermost-first, as in TensorRef; the file stores them reversed, as ne. */
  readonly shape: readonly number[];
  /** Produces exactly the tensor's bytes; called once, when the writer reaches the tensor. */
  readonly data: () => Promise<Uint8Array>;
}

export interface GgufSplitLimits {
  /** At most this many tensors per shard (gguf-split --split-max-tensors). */
  readonly maxTensorsPerShard?: number;
  /**
   * At most this many bytes of (padded) tensor data per shard, header not counted, as gguf-split
   * --split-max-size counts; a single larger tensor gets a shard of its own.
   */
  readonly maxShardBytes?: number;
}

interface PlannedTensor extends GgufTensorSpec {
  readonly ne: readonly number[];
  readonly ggmlType: number;
  readonly byteLength: number;
}

export class GgufWriter {
  private readonly kv: GgufMetadata = new Map();
  private readonly planned: PlannedTensor[] = [];
  private readonly names = new Set<string>();

  /** A writer holding a GGUF's metadata and tensors (e.g. from readGguf or openGgufModel), data read lazily. */
  static from(source: { readonly metadata: ReadonlyMap<string, GgufValue>; readonly tensors: readonly TensorRef[] }): GgufWriter {
    const w = new GgufWriter();
    for (const [k, v] of source.metadata) w.set(k, v);
    for (const t of source.tensors) w.addTensor({ name: t.name, type: t.type, shape: t.shape, data: () => t.read() });
    return w;
  }

  /** Sets a key; a new key goes last, an existing key keeps its place. */
  set(key: string, value: GgufValue): this {
    if (key === "") throw new BitsmithError("a metadata key must not be empty", { field: "metadata" });
    checkGgufValue(value, key);
    if (key === GGUF_KEY_ALIGNMENT) ggufAlignment(new Map([[key, value]]));
    this.kv.set(key, value);
    return this;
  }

  delete(key: string): boolean {
    return this.kv.delete(key);
  }

  get metadata(): ReadonlyMap<string, GgufValue> {
    return this.kv;
  }

  get tensors(): readonly GgufTensorSpec[] {
    return this.planned;
  }

  get alignment(): number {
    return ggufAlignment(this.kv);
  }

  addTensor(spec: GgufTensorSpec): this {
    const field = `tensor "${spec.name}"`;
    const fail = (m: string) => new BitsmithError(m, { field });
    const nameBytes = utf8Encoder.encode(spec.name).length;
    if (nameBytes === 0 || nameBytes >= GGML_MAX_NAME) throw fail(`name must be 1 to ${GGML_MAX_NAME - 1} bytes, is ${nameBytes}`);
    if (this.names.has(spec.name)) throw fail("duplicate tensor name");
    const ggmlType = spec.type.ggmlId;
    if (ggmlType === undefined) throw fail(`type ${spec.type.name} cannot be stored in GGUF`);
    if (spec.shape.length > GGML_MAX_DIMS) throw fail(`${spec.shape.length} dimensions, ggml allows ${GGML_MAX_DIMS}`);
    if (!spec.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw fail(`invalid shape [${spec.shape.join(", ")}]`);
    const rowLength = spec.shape.at(-1) ?? 1;
    if (rowLength % spec.type.blockSize !== 0) {
      throw fail(`row length ${rowLength} is not a multiple of ${spec.type.name}'s block size ${spec.type.blockSize}`);
    }
    const byteLength = tensorByteSize(spec.type, spec.shape);
    if (byteLength === undefined) throw fail(`shape [${spec.shape.join(", ")}] is too large`);
    this.names.add(spec.name);
    this.planned.push({ ...spec, ne: [...spec.shape].reverse(), ggmlType, byteLength });
    return this;
  }

  /** Writes one GGUF file to `sink` and commits it; on any failure the sink is aborted. */
  async write(sink: ByteSink): Promise<void> {
    try {
      await writeFile(sink, this.kv, this.planned);
      await sink.commit();
    } catch (e) {
      await sink.abort();
      throw e;
    }
  }

  /**
   * Writes the model as gguf-split shards `<prefix>-0000i-of-0000n.gguf` and returns their paths. The first
   * shard gets all metadata (any split.* keys replaced), the others only the split keys (and
   * general.alignment when set). Shards are committed only after all were written; on failure every
   * uncommitted shard is aborted.
   */
  async writeSplits(fs: FileSystemLike, prefix: string, limits: GgufSplitLimits = {}): Promise<string[]> {
    const shards = planShards(this.planned, this.alignment, limits);
    const count = shards.length;
    if (count > 0xffff) throw new BitsmithError(`${count} shards: split.count is a u16`, { field: GGUF_KEY_SPLIT_COUNT });
    if (this.planned.length > 0x7fffffff) throw new BitsmithError("too many tensors for split.tensors.count (i32)", { field: GGUF_KEY_SPLIT_TENSORS_COUNT });
    const paths = shards.map((_, i) => ggufSplitPath(prefix, i, count));
    const sinks: ByteSink[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const sink = await fs.create(paths[i]!);
        sinks.push(sink);
        await writeFile(sink, this.shardMetadata(i, count), shards[i]!);
      }
      for (const sink of sinks) await sink.commit();
    } catch (e) {
      for (const sink of sinks) await sink.abort().catch(() => undefined);
      throw e;
    }
    return paths;
  }

  /** Keys in gguf-split's order: it appends split.no, split.count, split.tensors.count, then re-sets split.count. */
  private shardMetadata(index: number, count: number): GgufMetadata {
    const kv: GgufMetadata = new Map();
    if (index === 0) {
      for (const [k, v] of this.kv) if (!isSplitKey(k)) kv.set(k, v);
    } else {
      const alignment = this.kv.get(GGUF_KEY_ALIGNMENT);
      if (alignment !== undefined) kv.set(GGUF_KEY_ALIGNMENT, alignment);
    }
    kv.set(GGUF_KEY_SPLIT_NO, gguf.u16(index));
    kv.set(GGUF_KEY_SPLIT_TENSORS_COUNT, gguf.i32(this.planned.length));
    kv.set(GGUF_KEY_SPLIT_COUNT, gguf.u16(count));
    return kv;
  }
}

function planShards(tensors: readonly PlannedTensor[], alignment: number, limits: GgufSplitLimits): PlannedTensor[][] {
  const { maxTensorsPerShard: maxTensors, maxShardBytes: maxBytes } = limits;
  if (maxTensors !== undefined && !(Number.isSafeInteger(maxTensors) && maxTensors >= 1)) {
    throw new BitsmithError(`maxTensorsPerShard must be a positive integer, is ${maxTensors}`, { field: "maxTensorsPerShard" });
  }
  if (maxBytes !== undefined && !(maxBytes > 0)) throw new BitsmithError(`maxShardBytes must be positive, is ${maxBytes}`, { field: "maxShardBytes" });
  const shards: PlannedTensor[][] = [[]];
  let bytes = 0;
  for (const t of tensors) {
    const current = shards[shards.length - 1]!;
    const size = alignUp(t.byteLength, alignment);
    const full =
      current.length > 0 && ((maxTensors !== undefined && current.length >= maxTensors) || (maxBytes !== undefined && bytes + size > maxBytes));
    if (full) {
      shards.push([t]);
      bytes = size;
    } else {
      current.push(t);
      bytes += size;
    }
  }
  return shards;
}

/** Header, then each tensor's bytes followed by zero padding to the alignment. */
async function writeFile(sink: ByteSink, kv: ReadonlyMap<string, GgufValue>, tensors: readonly PlannedTensor[]): Promise<void> {
  const alignment = ggufAlignment(kv, sink.name);
  let offset = 0;
  const infos = tensors.map((t) => {
    const info = { name: t.name, ne: t.ne, ggmlType: t.ggmlType, offset };
    offset += alignUp(t.byteLength, alignment);
    return info;
  });
  await sink.write(encodeGgufHeader(kv, infos, alignment));
  const zeros = new Uint8Array(alignment);
  for (const t of tensors) {
    const bytes = await t.data();
    if (bytes.length !== t.byteLength) {
      throw new BitsmithError(`data is ${bytes.length} bytes, expected ${t.byteLength} for ${t.type.name} [${t.shape.join(", ")}]`, {
        file: sink.name,
        field: `tensor "${t.name}"`,
      });
    }
    await sink.write(bytes);
    const pad = alignUp(bytes.length, alignment) - bytes.length;
    if (pad > 0) await sink.write(zeros.subarray(0, pad));
  }
}
