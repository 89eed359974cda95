/**
 * Runs in a browser, as a dedicated module worker of the test page: the kernels' calling thread, which owns
 * the kernels' Web Workers (nested workers). Answers one request with one message:
 *  - "products": the GEMM and decode-GEMM cases of browser-kernel-cases.ts on `threads` threads;
 *  - "create": only creates kernels with `threads` (to see the error a page without isolation gets);
 *  - "bench": GFLOP/s of an n³ GEMM, best of `runs` timed calls after a warm-up.
 */
import { tensorType } from "../../src/core/index.js";
import { createBrowserKernels } from "../../src/browser/index.js";
import type { Kernels } from "../../src/kernels/index.js";
import { DECODE_CASES, GEMM_CASES, decodeInputs, gemmInputs, hashArrays } from "./browser-kernel-cases.js";

export type KernelPageRequest =
  | { readonly kind: "products"; readonly threads: number }
  | { readonly kind: "create"; readonly threads?: number }
  | { readonly kind: "bench"; readonly threads: number; readonly size: number; readonly runs: number };

export interface ProductResult {
  /** hashArrays of the inputs used. */
  readonly inputs: number;
  /** The output's float32 bytes in base64 (playwright passes a string ~100× faster than an array of numbers). */
  readonly output: string;
}

export type KernelPageReply =
  | { readonly kind: "products"; readonly description: string; readonly threads: number; readonly gemm: ProductResult[]; readonly decode: ProductResult[] }
  | { readonly kind: "created"; readonly description: string; readonly threads: number }
  | { readonly kind: "bench"; readonly description: string; readonly gflops: number }
  | { readonly kind: "error"; readonly name: string; readonly message: string };

function base64(values: Float32Array): string {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function products(K: Kernels): { gemm: ProductResult[]; decode: ProductResult[] } {
  const gemm = GEMM_CASES.map((c, i) => {
    const { a, b } = gemmInputs(c, i);
    const inputs = hashArrays(a, b);
    const place = (v: Float32Array) => {
      if (!c.inMemory) return v;
      const view = K.allocate(v.length);
      view.set(v);
      return view;
    };
    const A = place(a);
    const B = place(b);
    const C = c.inMemory ? K.allocate(c.m * c.n) : new Float32Array(c.m * c.n);
    K.gemmNT(c.m, c.n, c.k, A, 0, c.k, B, 0, c.k, C, 0, c.n, { accumulation: c.accumulation });
    const output = base64(C);
    for (const v of [A, B, C]) K.release(v);
    return { inputs, output };
  });
  const decode = DECODE_CASES.map((c, i) => {
    const { x, data } = decodeInputs(c, i);
    const inputs = hashArrays(x, data);
    const w = { rows: c.n, cols: c.k, type: tensorType(c.type)!, data: K.place(data) };
    const y = new Float32Array(c.rows * c.n);
    K.matmul(x, c.rows, w, y, c.accumulation);
    K.release(w.data);
    return { inputs, output: base64(y) };
  });
  return { gemm, decode };
}

function gflops(K: Kernels, size: number, runs: number): number {
  const a = K.allocate(size * size).fill(0.5);
  const b = K.allocate(size * size).fill(0.25);
  const c = K.allocate(size * size);
  let best = Infinity;
  for (let r = 0; r <= runs; r++) {
    const t = performance.now();
    K.gemmNT(size, size, size, a, 0, size, b, 0, size, c, 0, size);
    if (r > 0) best = Math.min(best, performance.now() - t);
  }
  for (const v of [a, b, c]) K.release(v);
  return (2 * size ** 3) / best / 1e6;
}

async function answer(request: KernelPageRequest): Promise<KernelPageReply> {
  const K = await createBrowserKernels({ threads: request.threads });
  try {
    if (request.kind === "create") return { kind: "created", description: K.description, threads: K.threads };
    if (request.kind === "bench") return { kind: "bench", description: K.description, gflops: gflops(K, request.size, request.runs) };
    return { kind: "products", description: K.description, threads: K.threads, ...products(K) };
  } finally {
    await K.close();
  }
}

addEventListener("message", (event) => {
  answer((event as MessageEvent<KernelPageRequest>).data).then(
    (reply) => postMessage(reply),
    (e: Error) => postMessage({ kind: "error", name: e.name, message: e.message } satisfies KernelPageReply),
  );
});
