/**
 * GGUF metadata values. A value always carries its GGUF type, because a JS number cannot say whether it was a
 * u8, an i32 or an f32, and the type must survive a read/write round trip (llama.cpp checks key types strictly,
 * e.g. `split.count` must be u16).
 *
 * Representation (chosen for exactness and for speed on 150k-entry vocabularies):
 * - 8/16/32-bit integers and floats: `number`; UINT64 and INT64: always `bigint` (exact; getNumber() converts
 *   when the value is a safe integer).
 * - Arrays: numeric items in the matching typed array (Uint8Array ... Float64Array, BigUint64Array,
 *   BigInt64Array), bool items as boolean[], strings as string[], nested arrays as GgufArrayValue[].
 *   Typed arrays are copied from/to the file bytes as they are, so float bit patterns (NaN payloads) survive.
 */
import { BitsmithError } from "../../core/index.js";

// Typed-array items are copied to and from the file's bytes, so they must share its little-endian order (true
// of every platform JavaScript runs on in practice).
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("GGUF support needs a little-endian host");

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** Item storage of an array of each type. */
export interface GgufArrayItems {
  [GgufValueType.UINT8]: Uint8Array;
  [GgufValueType.INT8]: Int8Array;
  [GgufValueType.UINT16]: Uint16Array;
  [GgufValueType.INT16]: Int16Array;
  [GgufValueType.UINT32]: Uint32Array;
  [GgufValueType.INT32]: Int32Array;
  [GgufValueType.FLOAT32]: Float32Array;
  [GgufValueType.BOOL]: boolean[];
  [GgufValueType.STRING]: string[];
  [GgufValueType.ARRAY]: GgufArrayValue[];
  [GgufValueType.UINT64]: BigUint64Array;
  [GgufValueType.INT64]: BigInt64Array;
  [GgufValueType.FLOAT64]: Float64Array;
}

export type GgufArrayValue = {
  [K in GgufValueType]: { readonly type: GgufValueType.ARRAY; readonly itemType: K; readonly value: GgufArrayItems[K] };
}[GgufValueType];

export type GgufScalarType = Exclude<GgufValueType, GgufValueType.ARRAY>;

interface GgufScalarValues {
  [GgufValueType.UINT8]: number;
  [GgufValueType.INT8]: number;
  [GgufValueType.UINT16]: number;
  [GgufValueType.INT16]: number;
  [GgufValueType.UINT32]: number;
  [GgufValueType.INT32]: number;
  [GgufValueType.FLOAT32]: number;
  [GgufValueType.BOOL]: boolean;
  [GgufValueType.STRING]: string;
  [GgufValueType.UINT64]: bigint;
  [GgufValueType.INT64]: bigint;
  [GgufValueType.FLOAT64]: number;
}

export type GgufScalarValue = {
  [K in GgufScalarType]: { readonly type: K; readonly value: GgufScalarValues[K] };
}[GgufScalarType];

export type GgufValue = GgufScalarValue | GgufArrayValue;

/** Ordered key/value metadata of a GGUF file (Map keeps insertion order, which is the file's order). */
export type GgufMetadata = Map<string, GgufValue>;

/** Types whose items are fixed-size numbers stored in a typed array, with their byte size. */
export const GGUF_TYPED_ARRAY_TYPES = {
  [GgufValueType.UINT8]: Uint8Array,
  [GgufValueType.INT8]: Int8Array,
  [GgufValueType.UINT16]: Uint16Array,
  [GgufValueType.INT16]: Int16Array,
  [GgufValueType.UINT32]: Uint32Array,
  [GgufValueType.INT32]: Int32Array,
  [GgufValueType.FLOAT32]: Float32Array,
  [GgufValueType.UINT64]: BigUint64Array,
  [GgufValueType.INT64]: BigInt64Array,
  [GgufValueType.FLOAT64]: Float64Array,
} as const;
export type GgufTypedArrayType = keyof typeof GGUF_TYPED_ARRAY_TYPES;

export function isTypedArrayType(t: GgufValueType): t is GgufTypedArrayType {
  return t in GGUF_TYPED_ARRAY_TYPES;
}

export function ggufTypeName(t: number): string {
  return GgufValueType[t] ?? `unknown type ${t}`;
}

// Integer ranges of the 8/16/32-bit types, for the builders' checks.
const INT_RANGES: Partial<Record<GgufValueType, readonly [number, number]>> = {
  [GgufValueType.UINT8]: [0, 0xff],
  [GgufValueType.INT8]: [-0x80, 0x7f],
  [GgufValueType.UINT16]: [0, 0xffff],
  [GgufValueType.INT16]: [-0x8000, 0x7fff],
  [GgufValueType.UINT32]: [0, 0xffffffff],
  [GgufValueType.INT32]: [-0x80000000, 0x7fffffff],
};
const BIG_RANGES: Partial<Record<GgufValueType, readonly [bigint, bigint]>> = {
  [GgufValueType.UINT64]: [0n, (1n << 64n) - 1n],
  [GgufValueType.INT64]: [-(1n << 63n), (1n << 63n) - 1n],
};

function checkInt(type: GgufValueType, v: number, field = "value"): number {
  const [lo, hi] = INT_RANGES[type]!;
  if (!Number.isInteger(v) || v < lo || v > hi) throw new BitsmithError(`${v} is not a valid ${ggufTypeName(type)}`, { field });
  return v;
}

function checkBig(type: GgufValueType, v: bigint | number, field = "value"): bigint {
  if (typeof v !== "bigint" && !Number.isSafeInteger(v)) {
    throw new BitsmithError(`${v} is not an exact integer; pass a bigint for ${ggufTypeName(type)}`, { field });
  }
  const b = BigInt(v);
  const [lo, hi] = BIG_RANGES[type]!;
  if (b < lo || b > hi) throw new BitsmithError(`${b} is not a valid ${ggufTypeName(type)}`, { field });
  return b;
}

/** What `gguf.arr` accepts for each item type (converted to the stored representation). */
export interface GgufArrayInput {
  [GgufValueType.UINT8]: ArrayLike<number>;
  [GgufValueType.INT8]: ArrayLike<number>;
  [GgufValueType.UINT16]: ArrayLike<number>;
  [GgufValueType.INT16]: ArrayLike<number>;
  [GgufValueType.UINT32]: ArrayLike<number>;
  [GgufValueType.INT32]: ArrayLike<number>;
  [GgufValueType.FLOAT32]: ArrayLike<number>;
  [GgufValueType.BOOL]: readonly boolean[];
  [GgufValueType.STRING]: readonly string[];
  [GgufValueType.ARRAY]: readonly GgufArrayValue[];
  [GgufValueType.UINT64]: ArrayLike<bigint | number>;
  [GgufValueType.INT64]: ArrayLike<bigint | number>;
  [GgufValueType.FLOAT64]: ArrayLike<number>;
}

function makeArray<K extends GgufValueType>(itemType: K, items: GgufArrayInput[K]): GgufArrayValue {
  const t = itemType as GgufValueType;
  let value: GgufArrayItems[GgufValueType];
  if (t === GgufValueType.BOOL || t === GgufValueType.STRING || t === GgufValueType.ARRAY) {
    value = Array.from(items as ArrayLike<unknown>) as GgufArrayItems[GgufValueType];
  } else if (isTypedArrayType(t) && items instanceof GGUF_TYPED_ARRAY_TYPES[t]) {
    // Already the stored representation: copy the bits (keeps NaN payloads, needs no range checks).
    value = items.slice();
  } else if (t === GgufValueType.UINT64 || t === GgufValueType.INT64) {
    const src = items as ArrayLike<bigint | number>;
    const out = new GGUF_TYPED_ARRAY_TYPES[t](src.length);
    for (let i = 0; i < src.length; i++) out[i] = checkBig(t, src[i]!);
    value = out;
  } else if (isTypedArrayType(t)) {
    const src = items as ArrayLike<number>;
    const out = new GGUF_TYPED_ARRAY_TYPES[t](src.length) as Exclude<GgufArrayItems[GgufTypedArrayType], BigInt64Array | BigUint64Array>;
    const integer = INT_RANGES[t] !== undefined;
    for (let i = 0; i < src.length; i++) out[i] = integer ? checkInt(t, src[i]!) : src[i]!;
    value = out;
  } else {
    throw new BitsmithError(`unknown GGUF array item type ${t}`, { field: "value" });
  }
  return { type: GgufValueType.ARRAY, itemType: t, value } as GgufArrayValue;
}

/**
 * Throws when `v` is not a well-formed GgufValue, e.g. one built by hand as `{ type: UINT8, value: 300 }`,
 * which would otherwise be written wrapped around.
 */
export function checkGgufValue(v: GgufValue, field: string): void {
  const bad = (what: string) => new BitsmithError(`${what} is not a valid ${ggufTypeName(v.type)} value`, { field });
  const value: unknown = v.value; // checked at run time: the static type may be a lie
  switch (v.type) {
    case GgufValueType.UINT8:
    case GgufValueType.INT8:
    case GgufValueType.UINT16:
    case GgufValueType.INT16:
    case GgufValueType.UINT32:
    case GgufValueType.INT32:
      if (typeof value !== "number") throw bad(typeof value);
      checkInt(v.type, value, field);
      return;
    case GgufValueType.UINT64:
    case GgufValueType.INT64:
      if (typeof value !== "bigint") throw bad(typeof value);
      checkBig(v.type, value, field);
      return;
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      if (typeof value !== "number") throw bad(typeof value);
      return;
    case GgufValueType.BOOL:
      if (typeof value !== "boolean") throw bad(typeof value);
      return;
    case GgufValueType.STRING:
      if (typeof value !== "string") throw bad(typeof value);
      return;
    case GgufValueType.ARRAY:
      checkArrayItems(v, field);
      return;
    default:
      throw new BitsmithError(`unknown GGUF value type ${(v as { type: unknown }).type}`, { field });
  }
}

function checkArrayItems(v: GgufArrayValue, field: string): void {
  const bad = () => new BitsmithError(`items do not match the item type ${ggufTypeName(v.itemType)}`, { field });
  if (isTypedArrayType(v.itemType)) {
    if (!(v.value instanceof GGUF_TYPED_ARRAY_TYPES[v.itemType])) throw bad();
  } else if (v.itemType === GgufValueType.BOOL) {
    if (!Array.isArray(v.value) || !v.value.every((b) => typeof b === "boolean")) throw bad();
  } else if (v.itemType === GgufValueType.STRING) {
    if (!Array.isArray(v.value) || !v.value.every((s) => typeof s === "string")) throw bad();
  } else if (v.itemType === GgufValueType.ARRAY) {
    if (!Array.isArray(v.value)) throw bad();
    v.value.forEach((item, j) => {
      if (item?.type !== GgufValueType.ARRAY) throw bad();
      checkArrayItems(item, `${field}[${j}]`);
    });
  } else {
    throw new BitsmithError(`unknown GGUF array item type ${(v as { itemType: unknown }).itemType}`, { field });
  }
}

/** Builders of typed values: `gguf.u32(5)`, `gguf.str("llama")`, `gguf.arr(GgufValueType.STRING, tokens)`. */
export const gguf = {
  u8: (v: number) => ({ type: GgufValueType.UINT8, value: checkInt(GgufValueType.UINT8, v) }) as const,
  i8: (v: number) => ({ type: GgufValueType.INT8, value: checkInt(GgufValueType.INT8, v) }) as const,
  u16: (v: number) => ({ type: GgufValueType.UINT16, value: checkInt(GgufValueType.UINT16, v) }) as const,
  i16: (v: number) => ({ type: GgufValueType.INT16, value: checkInt(GgufValueType.INT16, v) }) as const,
  u32: (v: number) => ({ type: GgufValueType.UINT32, value: checkInt(GgufValueType.UINT32, v) }) as const,
  i32: (v: number) => ({ type: GgufValueType.INT32, value: checkInt(GgufValueType.INT32, v) }) as const,
  u64: (v: bigint | number) => ({ type: GgufValueType.UINT64, value: checkBig(GgufValueType.UINT64, v) }) as const,
  i64: (v: bigint | number) => ({ type: GgufValueType.INT64, value: checkBig(GgufValueType.INT64, v) }) as const,
  f32: (v: number) => ({ type: GgufValueType.FLOAT32, value: Math.fround(v) }) as const,
  f64: (v: number) => ({ type: GgufValueType.FLOAT64, value: v }) as const,
  bool: (v: boolean) => ({ type: GgufValueType.BOOL, value: v }) as const,
  str: (v: string) => ({ type: GgufValueType.STRING, value: v }) as const,
  arr: makeArray,
};

// Loose readers: accept any numeric type for a number, so callers need not care whether a converter wrote
// context_length as u32 or u64. A value of the wrong kind is an error, an absent key is `undefined`.

function wrongKind(key: string, want: string, v: GgufValue, file?: string): BitsmithError {
  const found = v.type === GgufValueType.ARRAY ? `ARRAY of ${ggufTypeName(v.itemType)}` : ggufTypeName(v.type);
  return new BitsmithError(`expected ${want}, found ${found}`, { file, field: key });
}

function bigToNumber(b: bigint, key: string, file?: string): number {
  const n = Number(b);
  if (!Number.isSafeInteger(n)) throw new BitsmithError(`${b} does not fit in a JS number`, { file, field: key });
  return n;
}

export function getNumber(meta: ReadonlyMap<string, GgufValue>, key: string, file?: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v.value === "number") return v.value;
  if (typeof v.value === "bigint") return bigToNumber(v.value, key, file);
  throw wrongKind(key, "a number", v, file);
}

export function getString(meta: ReadonlyMap<string, GgufValue>, key: string, file?: string): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type === GgufValueType.STRING) return v.value;
  throw wrongKind(key, "a string", v, file);
}

export function getBool(meta: ReadonlyMap<string, GgufValue>, key: string, file?: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type === GgufValueType.BOOL) return v.value;
  throw wrongKind(key, "a bool", v, file);
}

export function getArray(meta: ReadonlyMap<string, GgufValue>, key: string, file?: string): GgufArrayValue | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type === GgufValueType.ARRAY) return v;
  throw wrongKind(key, "an array", v, file);
}

export function getStringArray(meta: ReadonlyMap<string, GgufValue>, key: string, file?: string): string[] | undefined {
  const v = getArray(meta, key, file);
  if (v === undefined) return undefined;
  if (v.itemType === GgufValueType.STRING) return v.value;
  throw wrongKind(key, "an array of strings", v, file);
}

/** Numeric array items as numbers (typed arrays as they are; 64-bit items converted when exact). */
export function getNumberArray(meta: ReadonlyMap<string, GgufValue>, key: string, file?: string): ArrayLike<number> | undefined {
  const v = getArray(meta, key, file);
  if (v === undefined) return undefined;
  if (v.itemType === GgufValueType.UINT64 || v.itemType === GgufValueType.INT64) {
    return Array.from(v.value, (b) => bigToNumber(b, key, file));
  }
  if (isTypedArrayType(v.itemType)) return v.value as ArrayLike<number>;
  throw wrongKind(key, "an array of numbers", v, file);
}
