/**
 * One thread's share of a kernel call, as plain data: addresses in the kernels' shared memory and sizes. The
 * calling thread runs its share with runKernelTask and sends the others to workers, which run the same
 * function on their own instance of the same module over the same memory (src/node/pool-worker.ts).
 */
import { tensorType } from "../core/index.js";
import type { TensorTypeInfo } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import { WASM_DECODERS } from "./wasm/decode-module.js";
import { GEMM_ACCUMULATE, GEMM_F64 } from "./wasm/gemm-module.js";
import { runLinalgF64Task } from "./linalg-f64-tasks.js";
import type { LinalgF64Task } from "./linalg-f64-tasks.js";
import type { LinalgF64Exports } from "./wasm/linalg-f64-module.js";

/** C [m × n] (+)= A · Bᵀ; addresses in bytes, leading dimensions in elements. */
export interface GemmTask {
  readonly kind: "gemm";
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: number;
  readonly lda: number;
  readonly b: number;
  readonly ldb: number;
  readonly c: number;
  readonly ldc: number;
  readonly accumulate: boolean;
  /** Sum in float64 lanes (GEMM_F64). */
  readonly float64: boolean;
  /** This thread's gemm scratch. */
  readonly scratch: number;
}

/**
 * C [m × n] (+)= A · Wᵀ for n encoded weight rows at `w` (`rowBytes` each, type `type`), decoded `chunkRows`
 * rows at a time into this thread's `decoded` buffer (chunkRows × k floats).
 */
export interface DecodeGemmTask extends Omit<GemmTask, "kind" | "b" | "ldb"> {
  readonly kind: "decode-gemm";
  readonly type: string;
  readonly w: number;
  readonly rowBytes: number;
  readonly decoded: number;
  readonly chunkRows: number;
}

/** `count` values of `type` at `src` decoded to float32s at `dst` (weights for a native GEMM). */
export interface DecodeTask {
  readonly kind: "decode";
  readonly type: string;
  readonly src: number;
  readonly dst: number;
  readonly count: number;
}

export type KernelTask = GemmTask | DecodeGemmTask | DecodeTask | LinalgF64Task;

/** The exports of the generated kernel module (see wasm/gemm-module.ts and wasm/decode-module.ts). */
export interface KernelExports {
  gemm_nt(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, flags: number, scratch: number): void;
  softmax_causal(ptr: number, rows: number, cols: number, scale: number, first: number): void;
  swiglu(gate: number, up: number, count: number): void;
  /** decode_f16, decode_bf16, decode_q8_0, decode_q4_0 (src, dst, blocks). */
  [decoder: `decode_${string}`]: (src: number, dst: number, blocks: number) => void;
}

/**
 * Decodes `count` values of `type` from address `src` to float32s at `dst`: whole blocks by the WebAssembly
 * decoder when the type has one, the rest (and other types) by the codecs.
 */
export function decodeRows(exports: KernelExports, memory: WebAssembly.Memory, type: TensorTypeInfo, src: number, dst: number, count: number): void {
  const wasm = WASM_DECODERS[type.name];
  let done = 0;
  if (wasm) {
    const blocks = Math.floor(count / wasm.values);
    exports[`decode_${type.name.toLowerCase()}`]!(src, dst, blocks);
    done = blocks * wasm.values;
  }
  if (done === count) return;
  const rest = count - done;
  const srcOffset = src + (done / type.blockSize) * type.typeSize;
  const bytes = new Uint8Array(memory.buffer, srcOffset, (rest / type.blockSize) * type.typeSize);
  toFloat32(bytes, type, rest, new Float32Array(memory.buffer, dst + 4 * done, rest));
}

export function runKernelTask(exports: KernelExports, memory: WebAssembly.Memory, task: KernelTask): void {
  if (task.kind === "decode") {
    decodeRows(exports, memory, tensorType(task.type)!, task.src, task.dst, task.count);
    return;
  }
  if (task.kind === "gemm-f64" || task.kind === "f64-triangular-product") {
    runLinalgF64Task(exports as unknown as LinalgF64Exports, task);
    return;
  }
  const flags = (task.accumulate ? GEMM_ACCUMULATE : 0) | (task.float64 ? GEMM_F64 : 0);
  if (task.kind === "gemm") {
    const t = task;
    exports.gemm_nt(t.m, t.n, t.k, t.a, t.lda, t.b, t.ldb, t.c, t.ldc, flags, t.scratch);
    return;
  }
  const t = task;
  const type = tensorType(t.type)!;
  for (let r0 = 0; r0 < t.n; r0 += t.chunkRows) {
    const rows = Math.min(t.chunkRows, t.n - r0);
    decodeRows(exports, memory, type, t.w + r0 * t.rowBytes, t.decoded, rows * t.k);
    exports.gemm_nt(t.m, rows, t.k, t.a, t.lda, t.decoded, t.k, t.c + 4 * r0, t.ldc, flags, t.scratch);
  }
}
