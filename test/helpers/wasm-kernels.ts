/** WebAssembly kernels for a test file, on a given number of threads; all of them close when the file's tests end. */
import { after } from "node:test";
import type { Kernels } from "../../src/kernels/index.js";
import { createNodeKernels } from "../../src/node/kernels.js";

/** Call once at the top level of a test file; the returned function makes kernels (threads, relaxed SIMD). */
export function wasmKernelsForFile(): (threads: number, relaxed?: boolean | "auto") => Promise<Kernels> {
  const open: Kernels[] = [];
  after(() => Promise.all(open.map((k) => k.close())));
  return async (threads, relaxed = "auto") => {
    const k = await createNodeKernels({ threads, relaxed, kind: "wasm" });
    open.push(k);
    return k;
  };
}
