/**
 * Typed-array views over little-endian byte buffers. Tensor data is little-endian (GGUF, safetensors); every
 * platform JavaScript runs on in practice is little-endian too, so a typed array over the same memory reads it
 * directly. A view needs its byte offset aligned to the element size; when it is not, the bytes are copied.
 */
import { BitsmithError } from "../core/index.js";

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function checkHost(): void {
  if (!littleEndianHost) throw new BitsmithError("this platform is big-endian; bitsmith's tensor views need a little-endian host");
}

type ViewCtor<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; readonly BYTES_PER_ELEMENT: number };

function view<T>(ctor: ViewCtor<T>, bytes: Uint8Array, what: string): T {
  checkHost();
  const size = ctor.BYTES_PER_ELEMENT;
  if (bytes.length % size !== 0) throw new BitsmithError(`${bytes.length} bytes is not a whole number of ${what} values`);
  if (bytes.byteOffset % size === 0) return new ctor(bytes.buffer, bytes.byteOffset, bytes.length / size);
  // A real copy: on a Node Buffer, slice() would return a view at the same misaligned offset.
  const copy = new Uint8Array(bytes);
  return new ctor(copy.buffer, 0, bytes.length / size);
}

export const viewU16 = (bytes: Uint8Array): Uint16Array => view(Uint16Array, bytes, "16-bit");
export const viewI16 = (bytes: Uint8Array): Int16Array => view(Int16Array, bytes, "16-bit");
export const viewU32 = (bytes: Uint8Array): Uint32Array => view(Uint32Array, bytes, "32-bit");
export const viewI32 = (bytes: Uint8Array): Int32Array => view(Int32Array, bytes, "32-bit");
export const viewF32 = (bytes: Uint8Array): Float32Array => view(Float32Array, bytes, "32-bit");
export const viewF64 = (bytes: Uint8Array): Float64Array => view(Float64Array, bytes, "64-bit");
export const viewI64 = (bytes: Uint8Array): BigInt64Array => view(BigInt64Array, bytes, "64-bit");
export const viewU64 = (bytes: Uint8Array): BigUint64Array => view(BigUint64Array, bytes, "64-bit");

/** The bytes of a typed array (no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  checkHost();
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
