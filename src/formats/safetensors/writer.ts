/**
 * Writing one safetensors file as a stream: the header is computed from names, types and shapes alone, then each
 * tensor's bytes are pulled from its callback and written in turn, so only one tensor is in memory at a time.
 */
import { BitsmithError, tensorByteSize, utf8Encoder } from "../../core/index.js";
import type { ByteSink, FileSystemLike, TensorTypeInfo } from "../../core/index.js";
import { HEADER_LENGTH_BYTES, MAX_HEADER_BYTES, METADATA_KEY } from "./header.js";

/** A tensor to write: its description up front, its bytes on request. A TensorRef is one. */
export interface TensorToWrite {
  readonly name: string;
  readonly type: TensorTypeInfo;
  /** Outermost first, as stored in the header. */
  readonly shape: readonly number[];
  /** The tensor's raw little-endian bytes; called once, when the writer reaches this tensor. */
  read(): Promise<Uint8Array>;
}

/** A tensor with its validated size in bytes. */
export interface SizedTensor {
  readonly tensor: TensorToWrite;
  readonly byteLength: number;
}

/**
 * Checks that every tensor can be stored (a safetensors dtype, a valid shape, a unique name) and computes its size.
 * Run before any output is created, so a bad request leaves nothing behind.
 */
export function sizeTensors(tensors: readonly TensorToWrite[], file: string): SizedTensor[] {
  const seen = new Set<string>();
  return tensors.map((tensor) => {
    const where = { file, field: tensor.name };
    // The spec disallows duplicate keys; `__metadata__` is the reserved metadata key.
    if (tensor.name === METADATA_KEY) throw new BitsmithError(`"${METADATA_KEY}" is reserved and cannot name a tensor`, where);
    if (seen.has(tensor.name)) throw new BitsmithError("duplicate tensor name", where);
    seen.add(tensor.name);
    if (tensor.type.safetensors === undefined) throw new BitsmithError(`type ${tensor.type.name} has no safetensors dtype`, where);
    const byteLength = tensorByteSize(tensor.type, tensor.shape);
    if (byteLength === undefined) throw new BitsmithError(`invalid shape [${tensor.shape.join(", ")}]`, where);
    return { tensor, byteLength };
  });
}

/** `"key":value` pairs joined into a JSON object, in the given order (an object literal would move integer-like keys first). */
function jsonObject(pairs: Iterable<readonly [string, string]>): string {
  return `{${Array.from(pairs, ([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
}

/**
 * The 8-byte length and the JSON header for `tensors` stored back to back in the given order. The JSON is padded
 * with spaces to a multiple of 8 bytes, as the reference writer does (safetensors/src/tensor.rs, `prepare`: "Force
 * alignment to 8 bytes"), so the data starts 8-aligned.
 */
export function encodeSafetensorsHeader(tensors: readonly SizedTensor[], metadata: ReadonlyMap<string, string>, file: string): Uint8Array {
  const pairs: [string, string][] = [];
  if (metadata.size > 0) pairs.push([METADATA_KEY, jsonObject(Array.from(metadata, ([k, v]) => [k, JSON.stringify(v)] as const))]);
  let offset = 0;
  for (const { tensor, byteLength } of tensors) {
    const info = { dtype: tensor.type.safetensors, shape: tensor.shape, data_offsets: [offset, offset + byteLength] };
    pairs.push([tensor.name, JSON.stringify(info)]);
    offset += byteLength;
  }
  const json = utf8Encoder.encode(jsonObject(pairs));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded > MAX_HEADER_BYTES) throw new BitsmithError(`header of ${padded} bytes exceeds the 100 MB limit`, { file, field: "header" });
  const out = new Uint8Array(HEADER_LENGTH_BYTES + padded).fill(0x20, HEADER_LENGTH_BYTES + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, HEADER_LENGTH_BYTES);
  return out;
}

/** Writes header and tensor bytes to `sink`; neither commits nor aborts. */
export async function writeSafetensorsToSink(sink: ByteSink, tensors: readonly SizedTensor[], metadata: ReadonlyMap<string, string>): Promise<void> {
  await sink.write(encodeSafetensorsHeader(tensors, metadata, sink.name));
  for (const { tensor, byteLength } of tensors) {
    const bytes = await tensor.read();
    if (bytes.length !== byteLength) {
      throw new BitsmithError(`read() returned ${bytes.length} bytes; ${tensor.type.name} [${tensor.shape.join(", ")}] takes ${byteLength}`, {
        file: sink.name,
        field: tensor.name,
      });
    }
    await sink.write(bytes);
  }
}

/**
 * Writes `tensors` in order to one safetensors file at `path`. The file appears only when complete: on any error
 * the partial output is discarded and the error rethrown.
 */
export async function writeSafetensors(
  fs: FileSystemLike,
  path: string,
  tensors: readonly TensorToWrite[],
  metadata: ReadonlyMap<string, string> = new Map(),
): Promise<void> {
  const sized = sizeTensors(tensors, path);
  const sink = await fs.create(path);
  try {
    await writeSafetensorsToSink(sink, sized, metadata);
    await sink.commit();
  } catch (e) {
    await sink.abort();
    throw e;
  }
}
