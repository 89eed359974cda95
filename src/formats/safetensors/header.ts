/**
 * Reading one safetensors file's header into lazy tensor references.
 *
 * The layout, from huggingface/safetensors README.md ("Format"):
 *   - 8 bytes: N, a little-endian u64, the size of the header;
 *   - N bytes: a UTF-8 JSON object `{"NAME": {"dtype": "F16", "shape": [...], "data_offsets": [BEGIN, END]}, ...}`
 *     where the offsets are relative to the start of the byte buffer and END is one past the last byte; the special
 *     key `__metadata__` holds a free-form string-to-string map;
 *   - the rest of the file: the byte buffer.
 * The validation follows what the reference Rust loader (safetensors/src/tensor.rs, `read_metadata` and
 * `Metadata::validate`) rejects: headers over 100 MB, headers longer than the file, invalid UTF-8 or JSON,
 * tensors whose offsets (sorted) do not tile the buffer from 0 without gaps or overlaps, a byte span that differs
 * from shape × dtype size, and a buffer whose end is not the end of the file.
 */
import { BitsmithError, isJsonObject, tensorByteSize, tensorTypeBySafetensors, utf8 } from "../../core/index.js";
import type { ByteSource, TensorRef, TensorTypeInfo } from "../../core/index.js";

/** The reference loader's MAX_HEADER_SIZE: larger headers are refused before anything is allocated. */
export const MAX_HEADER_BYTES = 100_000_000;
/** Bytes of the u64 header length that opens every file. */
export const HEADER_LENGTH_BYTES = 8;
export const METADATA_KEY = "__metadata__";

/** A tensor stored in a safetensors file; its bytes are read on demand. */
export interface SafetensorsTensorRef extends TensorRef {
  /** The file holding the tensor (the source's name). */
  readonly file: string;
  /** Absolute byte offset of the tensor's first byte in the file. */
  readonly fileOffset: number;
}

export interface SafetensorsHeader {
  /** Tensors in the order of their data in the file. */
  tensors: SafetensorsTensorRef[];
  /** The `__metadata__` map (empty when absent). */
  metadata: Map<string, string>;
  /** Absolute offset of the byte buffer: 8 + header length. */
  dataOffset: number;
}

class SafetensorsTensor implements SafetensorsTensorRef {
  constructor(
    private readonly source: ByteSource,
    readonly name: string,
    readonly type: TensorTypeInfo,
    readonly shape: readonly number[],
    readonly fileOffset: number,
    readonly byteLength: number,
  ) {}

  get file(): string {
    return this.source.name;
  }

  async read(offset = 0, length = this.byteLength - offset): Promise<Uint8Array> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.byteLength) {
      throw new BitsmithError(`read of ${length} bytes at offset ${offset} is outside the tensor (${this.byteLength} bytes)`, {
        file: this.file,
        field: this.name,
      });
    }
    return this.source.read(this.fileOffset + offset, length);
  }
}

interface Entry {
  name: string;
  type: TensorTypeInfo;
  shape: number[];
  begin: number;
  end: number;
}

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parseMetadata(value: unknown, file: string): Map<string, string> {
  const where = { file, field: METADATA_KEY };
  if (!isJsonObject(value)) throw new BitsmithError("must be an object mapping strings to strings", where);
  const metadata = new Map<string, string>();
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") throw new BitsmithError(`value of "${k}" is ${JSON.stringify(v)}, not a string`, where);
    metadata.set(k, v);
  }
  return metadata;
}

function parseEntry(name: string, value: unknown, file: string): Entry {
  const where = { file, field: name };
  if (!isJsonObject(value)) throw new BitsmithError("tensor entry is not an object", where);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== "string") throw new BitsmithError(`dtype is ${JSON.stringify(dtype)}, not a string`, where);
  const type = tensorTypeBySafetensors(dtype);
  if (!type) throw new BitsmithError(`unknown dtype "${dtype}"`, where);
  if (!Array.isArray(shape) || !shape.every(isIndex)) {
    throw new BitsmithError(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`, where);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isIndex) || offsets[1] < offsets[0]) {
    throw new BitsmithError(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`, where);
  }
  return { name, type, shape, begin: offsets[0], end: offsets[1] };
}

/** Parses and validates the header of `source`, reading only its first 8 + N bytes. */
export async function readSafetensorsHeader(source: ByteSource): Promise<SafetensorsHeader> {
  const file = source.name;
  if (source.size < HEADER_LENGTH_BYTES) {
    throw new BitsmithError(`file is ${source.size} bytes, too short for the 8-byte header length: truncated or not safetensors`, {
      file,
      field: "header length",
    });
  }
  const prefix = await source.read(0, HEADER_LENGTH_BYTES);
  const declared = new DataView(prefix.buffer, prefix.byteOffset, HEADER_LENGTH_BYTES).getBigUint64(0, true);
  // Checked as a bigint before any allocation: a u64 can exceed both 2^53 and the file.
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new BitsmithError(`header length ${declared} exceeds the 100 MB limit of the safetensors format`, { file, field: "header length" });
  }
  const headerLength = Number(declared);
  const dataOffset = HEADER_LENGTH_BYTES + headerLength;
  if (dataOffset > source.size) {
    throw new BitsmithError(`header length ${headerLength} exceeds the ${source.size - HEADER_LENGTH_BYTES} bytes after it: truncated or not safetensors`, {
      file,
      field: "header length",
    });
  }

  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(await source.read(HEADER_LENGTH_BYTES, headerLength)));
  } catch (e) {
    throw new BitsmithError(`header is not valid UTF-8 JSON: ${(e as Error).message}`, { file, field: "header" });
  }
  if (!isJsonObject(json)) throw new BitsmithError("header JSON is not an object", { file, field: "header" });

  let metadata = new Map<string, string>();
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(json)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value, file);
    else entries.push(parseEntry(name, value, file));
  }

  // The reference loader sorts by offsets (writers order tensors differently) and then requires the spans to
  // tile the buffer: each begins where the previous ended. This also rejects most duplicate keys, which JSON.parse
  // would otherwise silently collapse to the last one, since the lost entry leaves a hole.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataSize = source.size - dataOffset;
  const tensors: SafetensorsTensorRef[] = [];
  let expected = 0;
  for (const e of entries) {
    const where = { file, field: e.name };
    if (e.begin < expected) {
      throw new BitsmithError(`data_offsets [${e.begin}, ${e.end}] overlap the previous tensor, which ends at ${expected}`, where);
    }
    if (e.begin > expected) {
      throw new BitsmithError(`data_offsets [${e.begin}, ${e.end}] leave a gap: the previous tensor ends at ${expected}`, where);
    }
    if (e.end > dataSize) {
      throw new BitsmithError(`data_offsets [${e.begin}, ${e.end}] point past the ${dataSize}-byte data section: truncated file`, where);
    }
    const bytes = tensorByteSize(e.type, e.shape);
    if (bytes !== e.end - e.begin) {
      throw new BitsmithError(
        `shape [${e.shape.join(", ")}] of ${e.type.name} needs ${bytes ?? "more than 2^53"} bytes but data_offsets span ${e.end - e.begin}`,
        where,
      );
    }
    tensors.push(new SafetensorsTensor(source, e.name, e.type, e.shape, dataOffset + e.begin, bytes));
    expected = e.end;
  }
  if (expected !== dataSize) {
    throw new BitsmithError(`tensors cover ${expected} bytes of the ${dataSize}-byte data section; the rest belongs to no tensor`, {
      file,
      field: "data_offsets",
    });
  }
  return { tensors, metadata, dataOffset };
}
