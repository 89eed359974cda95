/**
 * The memory the WebAssembly kernels compute in: one WebAssembly.Memory, shared between threads when the
 * runtime allows (SharedArrayBuffer; in browsers that needs cross-origin isolation), with a first-fit
 * allocator over it. Operands that already live here (the engine's activations and weights) are used in place;
 * others are copied in for the call.
 *
 * A shared memory grows without moving: views made before a grow stay valid. A non-shared one detaches its
 * buffer on every grow, so in that mode nothing here hands out long-lived views (see `persistent`).
 */

const PAGE = 65536;
/** Allocations start on cache-line boundaries. */
const ALIGN = 64;
const TAG_WORDS = 4;

export interface KernelMemoryOptions {
  /** Upper bound in bytes (default and maximum 4 GiB, the limit of 32-bit WebAssembly). */
  maximumBytes?: number;
  /** Ask for a shared memory (default true); falls back to an unshared one where the runtime has none. */
  shared?: boolean;
}

export class KernelMemory {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  readonly maximumPages: number;
  /**
   * Random bytes at address 0 that identify this memory: a view's buffer is this memory when it holds them
   * (buffer objects are no proof: V8 may hand out a new SharedArrayBuffer object for the same memory).
   */
  private readonly tag = new Uint32Array(TAG_WORDS);
  /** Free ranges [start, end), sorted by start and coalesced. */
  private readonly free: [number, number][] = [];
  private readonly sizes = new Map<number, number>();
  private top = ALIGN; // [0, ALIGN) holds the tag, so 0 is never a valid allocation

  constructor(options: KernelMemoryOptions = {}) {
    this.maximumPages = Math.min(65536, Math.floor((options.maximumBytes ?? 4 * 1024 ** 3) / PAGE));
    let memory: WebAssembly.Memory | undefined;
    if (options.shared !== false && typeof SharedArrayBuffer !== "undefined") {
      try {
        memory = new WebAssembly.Memory({ initial: 1, maximum: this.maximumPages, shared: true });
      } catch {
        memory = undefined;
      }
    }
    this.shared = memory !== undefined;
    this.memory = memory ?? new WebAssembly.Memory({ initial: 1, maximum: this.maximumPages });
    for (let i = 0; i < TAG_WORDS; i++) this.tag[i] = (Math.random() * 2 ** 32) >>> 0;
    new Uint32Array(this.memory.buffer, 0, TAG_WORDS).set(this.tag);
  }

  /** Whether views handed out stay valid for their lifetime (a shared memory never detaches). */
  get persistent(): boolean {
    return this.shared;
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * Reserves `bytes` bytes and returns their address, or undefined when the memory cannot grow that far (or, for
   * a new range at the top, not while leaving `keepFree` bytes to grow into).
   */
  allocate(bytes: number, keepFree = 0): number | undefined {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const [start, end] = this.free[i]!;
      if (end - start < size) continue;
      if (end - start === size) this.free.splice(i, 1);
      else this.free[i]![0] = start + size;
      this.sizes.set(start, size);
      return start;
    }
    const start = this.top;
    if (start + size + keepFree > this.maximumPages * PAGE || !this.ensure(start + size)) return undefined;
    this.top = start + size;
    this.sizes.set(start, size);
    return start;
  }

  /** Returns an allocation to the free list. */
  release(address: number): void {
    const size = this.sizes.get(address);
    if (size === undefined) throw new Error(`kernel memory: no allocation at ${address}`);
    this.sizes.delete(address);
    let end = address + size;
    let start = address;
    // Insert sorted, merging with neighbours; a range that reaches the top shrinks the top instead.
    let i = 0;
    while (i < this.free.length && this.free[i]![0] < start) i++;
    if (i > 0 && this.free[i - 1]![1] === start) {
      start = this.free[i - 1]![0];
      this.free.splice(--i, 1);
    }
    if (i < this.free.length && this.free[i]![0] === end) {
      end = this.free[i]![1];
      this.free.splice(i, 1);
    }
    if (end === this.top) this.top = start;
    else this.free.splice(i, 0, [start, end]);
  }

  /** Grows the memory to hold `bytes` bytes; false when that exceeds the maximum. */
  ensure(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > this.maximumPages) return false;
    // Grow by at least an eighth of the current size, so many small allocations do not each grow the memory.
    const extra = Math.min(this.maximumPages - have / PAGE, Math.max(pages, Math.ceil(have / PAGE / 8)));
    this.memory.grow(extra);
    return true;
  }

  /** A float32 view of `count` values at `address` (valid until the next grow if the memory is not shared). */
  f32(address: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, address, count);
  }

  u8(address: number, count: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, address, count);
  }

  /** The address of a view's first byte when the view lies in this memory. */
  addressOf(view: ArrayBufferView): number | undefined {
    const buffer = view.buffer;
    if (buffer === this.memory.buffer) return view.byteOffset;
    if (!this.shared || !(buffer instanceof SharedArrayBuffer) || buffer.byteLength < ALIGN || buffer.byteLength > this.memory.buffer.byteLength) return undefined;
    const words = new Uint32Array(buffer, 0, TAG_WORDS);
    for (let i = 0; i < TAG_WORDS; i++) if (words[i] !== this.tag[i]) return undefined;
    return view.byteOffset;
  }
}
