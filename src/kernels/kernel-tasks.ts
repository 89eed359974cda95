/**
 * One thread's share of a kernel call, as plain data: addresses in the kernels' shared memory and sizes. The
 * calling thread runs its share with runKernelTask and sends the others to workers, which run the same
 * function on their own instance of the same module over the same memory (src/node/pool-worker.ts).
 */
import { tensorType } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import { GEMM_ACCUMULATE, GEMM_F64 } from "./wasm/gemm-module.js";

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

export type KernelTask = GemmTask | DecodeGemmTask;

/** The exports of the generated kernel module (see wasm/gemm-module.ts). */
export interface KernelExports {
  gemm_nt(m: number, n: number, k: number, a: number, lda: number, b: number, ldb: number, c: number, ldc: number, flags: number, scratch: number): void;
}

export function runKernelTask(exports: KernelExports, memory: WebAssembly.Memory, task: KernelTask): void {
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
    const src = new Uint8Array(memory.buffer, t.w + r0 * t.rowBytes, rows * t.rowBytes);
    toFloat32(src, type, rows * t.k, new Float32Array(memory.buffer, t.decoded, rows * t.k));
    exports.gemm_nt(t.m, rows, t.k, t.a, t.lda, t.decoded, t.k, t.c + 4 * r0, t.ldc, flags, t.scratch);
  }
}
