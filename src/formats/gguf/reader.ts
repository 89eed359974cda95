/**
 * Reads a GGUF file's header (versions 2 and 3; they differ only in that v3 may be big-endian, which we, like
 * llama.cpp on little-endian hosts, reject) and exposes its tensors as lazy TensorRefs.
 *
 * Layout: "GGUF", u32 version, i64 tensor count, i64 KV count; KVs (string key, i32 value type, value);
 * tensor infos (string name, u32 n_dims, i64 ne[n_dims], i32 ggml type, u64 offset); zero padding to the
 * alignment; the data section, which tensor offsets are relative to.
 *
 * Validation follows llama.cpp's gguf.cpp where it is a sound rule (no empty or duplicate keys or tensor names,
 * at most 4 dimensions, non-negative ne, known ggml types, rows a whole number of blocks, `general.alignment` a
 * u32 power of two) and is looser where llama.cpp is only enforcing its own writer's layout: tensors may sit at
 * any aligned, non-overlapping, in-file offsets, not only packed in header order.
 */
import { BitsmithError, tensorByteSize, tensorTypeByGgmlId } from "../../core/index.js";
import type { ByteSource, TensorRef, TensorTypeInfo } from "../../core/index.js";
import { HeaderCursor } from "./header-cursor.js";
import { GGUF_TYPED_ARRAY_TYPES, GgufValueType, ggufTypeName, isTypedArrayType } from "./values.js";
import type { GgufArrayValue, GgufMetadata, GgufValue } from "./values.js";

export const GGUF_MAGIC = "GGUF";
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGUF_KEY_ALIGNMENT = "general.alignment";
/** ggml's GGML_MAX_DIMS. */
export const GGML_MAX_DIMS = 4;
/** Arrays nested deeper than this are refused (no real file nests at all; this bounds recursion). */
const MAX_ARRAY_NESTING = 16;

export interface GgufTensorRef extends TensorRef {
  /** GGUF dimensions, contiguous first: the reverse of `shape`. */
  readonly ne: readonly number[];
  readonly ggmlType: number;
  /** Offset of the tensor's bytes from the start of its file's data section, as the header states it. */
  readonly offset: number;
  /** Name of the file holding the bytes (one shard of a split model). */
  readonly file: string;
}

export interface GgufFile {
  readonly source: ByteSource;
  readonly version: number;
  /** Key/values in file order. */
  readonly metadata: GgufMetadata;
  /** Tensors in header order. */
  readonly tensors: readonly GgufTensorRef[];
  readonly alignment: number;
  /** File offset where the data section starts. */
  readonly dataOffset: number;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

export async function readGguf(source: ByteSource): Promise<GgufFile> {
  const file = source.name;
  const fail = (message: string, field: string) => new BitsmithError(message, { file, field });
  const c = new HeaderCursor(source);

  await c.need(4, "magic");
  const magic = c.takeCopy(4);
  if (String.fromCharCode(...magic) !== GGUF_MAGIC) {
    const hex = Array.from(magic, (b) => b.toString(16).padStart(2, "0")).join(" ");
    throw fail(`not a GGUF file: magic bytes are ${hex}, expected "GGUF"`, "magic");
  }

  await c.need(4 + 8 + 8, "header");
  const version = c.takeU32();
  if ((version & 0xffff) === 0 && version !== 0) throw fail(`version ${version} looks byte-swapped: big-endian GGUF files are not supported`, "version");
  if (version === 1) throw fail("GGUF version 1 is not supported (it predates 64-bit counts); convert the model again with a current llama.cpp", "version");
  if (version !== 2 && version !== 3) throw fail(`GGUF version ${version} is not supported (only versions 2 and 3)`, "version");

  // Minimum bytes per entry, to refuse absurd counts up front: a KV is a key length (8), a type (4) and at least
  // 1 byte of value; a tensor info is a name length (8), n_dims (4), type (4) and offset (8).
  const nTensors = c.lengthWithin(nonNegative(c.takeI64(), "tensor count", fail), 24, "tensor count", "tensor count");
  const nKv = c.lengthWithin(nonNegative(c.takeI64(), "metadata count", fail), 13, "metadata count", "metadata count");

  const metadata: GgufMetadata = new Map();
  for (let i = 0; i < nKv; i++) {
    const key = await c.string(`metadata ${i} key`);
    if (key === "") throw fail(`key ${i} is empty`, `metadata ${i} key`);
    if (metadata.has(key)) throw fail(`duplicate key (entry ${i})`, `metadata "${key}"`);
    const field = `metadata "${key}"`;
    await c.need(4, field);
    metadata.set(key, await readValue(c, c.takeI32(), field, 0));
  }

  const alignment = ggufAlignment(metadata, file);

  interface Info {
    name: string;
    ne: number[];
    ggmlType: number;
    type: TensorTypeInfo;
    offset: number;
    byteLength: number;
  }
  const infos: Info[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await c.string(`tensor ${i} name`);
    if (names.has(name)) throw fail(`duplicate tensor name (tensor ${i})`, `tensor "${name}"`);
    names.add(name);
    const field = `tensor "${name}"`;
    await c.need(4, `${field} n_dims`);
    const nDims = c.takeU32();
    if (nDims > GGML_MAX_DIMS) throw fail(`n_dims ${nDims} is more than ggml's ${GGML_MAX_DIMS}`, `${field} n_dims`);
    await c.need(8 * nDims + 4 + 8, `${field} ne`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const v = c.takeI64();
      if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`ne[${d}] = ${v} is not a valid dimension`, `${field} ne[${d}]`);
      ne.push(Number(v));
    }
    const ggmlType = c.takeI32();
    const type = tensorTypeByGgmlId(ggmlType);
    if (type === undefined) throw fail(`unknown ggml type id ${ggmlType}`, `${field} type`);
    const offset = c.takeU64();
    const rowLength = ne[0] ?? 1;
    if (rowLength % type.blockSize !== 0) {
      throw fail(`row length ne[0] = ${rowLength} is not a multiple of ${type.name}'s block size ${type.blockSize}`, `${field} ne[0]`);
    }
    const byteLength = tensorByteSize(type, [...ne].reverse());
    if (byteLength === undefined) throw fail(`shape [${ne.join(", ")}] of ${type.name} is too large`, `${field} ne`);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) throw fail(`data offset ${offset} is outside the file`, `${field} offset`);
    infos.push({ name, ne, ggmlType, type, offset: Number(offset), byteLength });
  }

  // llama.cpp pads to the alignment only when there are tensors; a tensor-less (vocab-only) file may end here.
  const dataOffset = nTensors > 0 ? alignUp(c.pos, alignment) : c.pos;
  const dataSize = source.size - dataOffset;
  if (nTensors > 0 && dataSize < 0) throw fail(`the header ends at ${c.pos} but the file has only ${source.size} bytes: truncated`, "data section");
  checkTensorPlacement(infos, alignment, dataSize, fail);

  const tensors = infos.map((info): GgufTensorRef => {
    const start = dataOffset + info.offset;
    const { byteLength, name } = info;
    return {
      name,
      type: info.type,
      shape: [...info.ne].reverse(),
      byteLength,
      ne: info.ne,
      ggmlType: info.ggmlType,
      offset: info.offset,
      file,
      async read(offset = 0, length = byteLength - offset) {
        if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > byteLength) {
          throw new BitsmithError(`read of ${length} bytes at ${offset} is outside the tensor (${byteLength} bytes)`, { file, field: `tensor "${name}"` });
        }
        return source.read(start + offset, length);
      },
    };
  });

  return { source, version, metadata, tensors, alignment, dataOffset };
}

function nonNegative(v: bigint, what: string, fail: (m: string, f: string) => BitsmithError): bigint {
  if (v < 0n) throw fail(`${what} ${v} is negative`, what);
  return v;
}

/** The data alignment a file with this metadata uses: `general.alignment` (a u32 power of two) or 32. */
export function ggufAlignment(metadata: ReadonlyMap<string, GgufValue>, file?: string): number {
  const v = metadata.get(GGUF_KEY_ALIGNMENT);
  if (v === undefined) return GGUF_DEFAULT_ALIGNMENT;
  const fail = (m: string) => new BitsmithError(m, { file, field: GGUF_KEY_ALIGNMENT });
  if (v.type !== GgufValueType.UINT32) throw fail(`must be a UINT32, found ${ggufTypeName(v.type)}`);
  if (v.value === 0 || (v.value & (v.value - 1)) !== 0) throw fail(`${v.value} is not a power of two`);
  return v.value;
}

/** Each tensor must start aligned, lie inside the data section and not overlap another. */
function checkTensorPlacement(
  infos: readonly { name: string; offset: number; byteLength: number }[],
  alignment: number,
  dataSize: number,
  fail: (m: string, f: string) => BitsmithError,
): void {
  for (const t of infos) {
    const field = `tensor "${t.name}" offset`;
    if (t.offset % alignment !== 0) throw fail(`data offset ${t.offset} is not a multiple of the alignment ${alignment}`, field);
    if (t.offset + t.byteLength > dataSize) {
      throw fail(`data [${t.offset}, ${t.offset + t.byteLength}) ends beyond the data section (${Math.max(dataSize, 0)} bytes): truncated or corrupt`, field);
    }
  }
  const byStart = infos.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const t = byStart[i]!;
    if (t.offset < prev.offset + prev.byteLength) {
      throw fail(`data at ${t.offset} overlaps tensor "${prev.name}" [${prev.offset}, ${prev.offset + prev.byteLength})`, `tensor "${t.name}" offset`);
    }
  }
}

async function readValue(c: HeaderCursor, type: number, field: string, depth: number): Promise<GgufValue> {
  switch (type) {
    case GgufValueType.UINT8:
      await c.need(1, field);
      return { type, value: c.takeU8() };
    case GgufValueType.INT8:
      await c.need(1, field);
      return { type, value: c.takeI8() };
    case GgufValueType.UINT16:
      await c.need(2, field);
      return { type, value: c.takeU16() };
    case GgufValueType.INT16:
      await c.need(2, field);
      return { type, value: c.takeI16() };
    case GgufValueType.UINT32:
      await c.need(4, field);
      return { type, value: c.takeU32() };
    case GgufValueType.INT32:
      await c.need(4, field);
      return { type, value: c.takeI32() };
    case GgufValueType.FLOAT32:
      await c.need(4, field);
      return { type, value: c.takeF32() };
    case GgufValueType.UINT64:
      await c.need(8, field);
      return { type, value: c.takeU64() };
    case GgufValueType.INT64:
      await c.need(8, field);
      return { type, value: c.takeI64() };
    case GgufValueType.FLOAT64:
      await c.need(8, field);
      return { type, value: c.takeF64() };
    case GgufValueType.BOOL:
      await c.need(1, field);
      return { type, value: takeBool(c, field) };
    case GgufValueType.STRING:
      return { type, value: await c.string(field) };
    case GgufValueType.ARRAY:
      return readArray(c, field, depth + 1);
    default:
      throw new BitsmithError(`unknown value type ${type}`, { file: c.source.name, field });
  }
}

function takeBool(c: HeaderCursor, field: string): boolean {
  const b = c.takeU8();
  if (b > 1) throw new BitsmithError(`bool byte is ${b}, expected 0 or 1`, { file: c.source.name, field });
  return b === 1;
}

/** Reads an array's item type, count and items (the ARRAY type tag is already consumed). */
async function readArray(c: HeaderCursor, field: string, depth: number): Promise<GgufArrayValue> {
  const fail = (m: string) => new BitsmithError(m, { file: c.source.name, field });
  if (depth > MAX_ARRAY_NESTING) throw fail(`arrays nested more than ${MAX_ARRAY_NESTING} deep`);
  await c.need(12, field);
  const itemType = c.takeI32();
  const count = c.takeU64();
  if (isTypedArrayType(itemType)) {
    const Ctor = GGUF_TYPED_ARRAY_TYPES[itemType];
    const n = c.lengthWithin(count, Ctor.BYTES_PER_ELEMENT, field, "array length");
    await c.need(n * Ctor.BYTES_PER_ELEMENT, field);
    const bytes = c.takeCopy(n * Ctor.BYTES_PER_ELEMENT);
    return { type: GgufValueType.ARRAY, itemType, value: new Ctor(bytes.buffer as ArrayBuffer, 0, n) } as GgufArrayValue;
  }
  switch (itemType) {
    case GgufValueType.BOOL: {
      const n = c.lengthWithin(count, 1, field, "array length");
      await c.need(n, field);
      const value: boolean[] = [];
      for (let j = 0; j < n; j++) value.push(takeBool(c, `${field}[${j}]`));
      return { type: GgufValueType.ARRAY, itemType, value };
    }
    case GgufValueType.STRING: {
      const n = c.lengthWithin(count, 8, field, "array length");
      const value: string[] = [];
      for (let j = 0; j < n; j++) {
        // Inline fast path: a vocabulary has 100k+ strings, most already in the window.
        if (!c.has(8)) await c.fill(8, `${field}[${j}]`);
        const len = c.lengthWithin(c.takeU64(), 1, `${field}[${j}]`, "string length");
        if (!c.has(len)) await c.fill(len, `${field}[${j}]`);
        value.push(c.takeUtf8(len, field));
      }
      return { type: GgufValueType.ARRAY, itemType, value };
    }
    case GgufValueType.ARRAY: {
      const n = c.lengthWithin(count, 12, field, "array length");
      const value: GgufArrayValue[] = [];
      // Each item is an array without a type tag of its own: item type, count, items.
      for (let j = 0; j < n; j++) value.push(await readArray(c, `${field}[${j}]`, depth + 1));
      return { type: GgufValueType.ARRAY, itemType, value };
    }
    default:
      throw fail(`unknown array item type ${itemType}`);
  }
}
