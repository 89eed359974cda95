/**
 * The codecs' WebAssembly module: the scale searches (ggml-search-module.ts), the Q8_0/Q4_0 quantizers
 * (legacy-module.ts), IQ1's split searches (iq1-module.ts) and the kernels' fp16 decoder, generated with the kernels' emitter. It is compiled on first
 * use, synchronously, once per thread, with a memory of its own that grows on demand; callers copy their data
 * in, call, and copy the results out. Where the runtime has no WebAssembly SIMD or refuses a synchronous
 * compile (a browser's main thread may), codecWasm() is null and the codecs run their JavaScript, which gives
 * the same bytes.
 */
import { decodeFunctions } from "../kernels/wasm/decode-module.js";
import { encodeModule } from "../kernels/wasm/wasm-emitter.js";
import { detectWasmSimd } from "../kernels/wasm/simd-support.js";
import { interleaveFunction, iq4CodesFunction, iq4SearchFunction, q3SearchFunction, type QkxWeights, qkxSearchFunction, qpSearchFunction, qxSearchFunction } from "./ggml-search-module.js";
import { iq1mSplitFunction, iq1sSplitFunction } from "./iq1-module.js";
import { gridFitFunction, gridNeighbourFunction } from "./iq-grid-module.js";
import { requantFunction } from "./kquant-module.js";
import { q4_0QuantizeFunction, q8_0QuantizeFunction } from "./legacy-module.js";

const PAGE = 65536;
const MAX_PAGES = 16384;

/** Group sizes, error kinds (absolute: true) and weights of make_qkx2_quants the codecs use. */
const QKX_VARIANTS: readonly [number, boolean, QkxWeights][] = [
  [16, false, "given"],
  [16, true, "abs"],
  [32, false, "given"],
  [32, false, "rmsAbs"],
];
/** Group sizes and weightings (x^2: true) of make_qx_quants the codecs use. */
const QX_VARIANTS: readonly [number, boolean][] = [
  [16, false],
  [16, true],
  [32, false],
];

type Kernel = (...args: number[]) => number | undefined;

/**
 * The module's functions and memory. The memory holds persistent data (lattice tables, allocated by persist())
 * below `base` and a call's scratch from `base` on: f32()/u8() view the memory from `base`, and callers pass
 * kernels addresses `base + offset`.
 */
export class CodecWasm {
  private scratchStart = 0;
  private f32View: Float32Array;
  private u8View: Uint8Array;

  constructor(
    private readonly memory: WebAssembly.Memory,
    /** The module's functions by name (qkx_32, qx_16_sq, iq4_32, q8_0, q4_0, decode_f16, ...). */
    readonly kernels: Readonly<Record<string, Kernel>>,
  ) {
    this.f32View = new Float32Array(memory.buffer);
    this.u8View = new Uint8Array(memory.buffer);
  }

  /** Address where a call's scratch starts. */
  get base(): number {
    return this.scratchStart;
  }

  /** Grows the memory to hold `bytes` bytes of scratch and refreshes the views. */
  private reserve(bytes: number): void {
    const need = this.scratchStart + bytes;
    const have = this.memory.buffer.byteLength;
    if (need > have) this.memory.grow(Math.ceil((need - have) / PAGE));
    if (this.f32View.buffer !== this.memory.buffer || this.u8View.byteOffset !== this.scratchStart) {
      this.f32View = new Float32Array(this.memory.buffer, this.scratchStart);
      this.u8View = new Uint8Array(this.memory.buffer, this.scratchStart);
    }
  }

  /** The scratch as float32 values (index 0 at `base`), holding at least `bytes` bytes. Stale after persist(). */
  f32(bytes: number): Float32Array {
    this.reserve(bytes);
    return this.f32View;
  }

  /** The scratch as bytes (index 0 at `base`), holding at least `bytes` bytes. Stale after persist(). */
  u8(bytes: number): Uint8Array {
    this.reserve(bytes);
    return this.u8View;
  }

  /** `bytes` (rounded up to 16) that stay allocated for the thread's lifetime; returns their address. */
  persist(bytes: number): number {
    const at = this.scratchStart;
    this.scratchStart += (bytes + 15) & ~15;
    this.reserve(0);
    return at;
  }

  private whole: { i32: Int32Array; f32: Float32Array; u8: Uint8Array } | undefined;

  /** The whole memory as int32, float32 and bytes (for persistent data). Stale after persist(). */
  views(): { i32: Int32Array; f32: Float32Array; u8: Uint8Array } {
    const buffer = this.memory.buffer;
    if (this.whole?.u8.buffer !== buffer) this.whole = { i32: new Int32Array(buffer), f32: new Float32Array(buffer), u8: new Uint8Array(buffer) };
    return this.whole;
  }
}

/** undefined: not tried yet; null: unavailable. */
let compiled: CodecWasm | null | undefined;
let enabled = true;

/** The module for this thread, compiled on first use, or null where it cannot run. */
export function codecWasm(): CodecWasm | null {
  if (!enabled) return null;
  if (compiled !== undefined) return compiled;
  compiled = null;
  if (!detectWasmSimd().simd) return null;
  try {
    const functions = [
      ...QKX_VARIANTS.map(([n, mad, weights]) => qkxSearchFunction(n, mad, weights)),
      ...QX_VARIANTS.map(([n, square]) => qxSearchFunction(n, square)),
      q3SearchFunction(),
      qpSearchFunction(8),
      qpSearchFunction(16),
      iq4SearchFunction(),
      iq4CodesFunction(),
      interleaveFunction(),
      q8_0QuantizeFunction(),
      q4_0QuantizeFunction(),
      requantFunction(),
      iq1mSplitFunction(),
      iq1sSplitFunction(),
      gridFitFunction(4),
      gridFitFunction(8),
      gridNeighbourFunction(8),
      ...decodeFunctions().filter((f) => f.name === "decode_f16"),
    ];
    const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES });
    const bytes = encodeModule({ initial: 1, maximum: MAX_PAGES, shared: false }, functions);
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
    compiled = new CodecWasm(memory, Object.fromEntries(functions.map((f) => [f.name, exports[f.name] as Kernel])));
  } catch {
    // e.g. a browser's main thread refusing a synchronous compile: the JavaScript codecs do the work.
  }
  return compiled;
}

/** Turns the WebAssembly module off (false) or back on; for comparing it with the JavaScript codecs. */
export function setCodecWasm(on: boolean): void {
  enabled = on;
}
