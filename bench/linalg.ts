/**
 * GPTQ's inverse-Hessian factor (Kernels.upperCholeskyOfInverse), seconds: the scalar JavaScript reference and
 * the WebAssembly kernels on 1 and 2 threads, for SPD matrices XᵀX/r + I of n = 1024, 2048, 4096 (the reference
 * up to BENCH_LINALG_REFERENCE_MAX, default 2048: it takes ~30 s at 4096), plus GPTQ on one 4096 × 4096 layer
 * with such a Hessian through the 2-thread kernels. Best of two runs; the machine's load average is reported.
 * Run directly: node dist/bench/linalg.js
 */
import { loadavg } from "node:os";
import { SeededRandom } from "../src/core/index.js";
import { ReferenceKernels } from "../src/kernels/index.js";
import type { Kernels } from "../src/kernels/index.js";
import { gptqQuantize } from "../src/methods/index.js";
import { createNodeKernels } from "../src/node/kernels.js";

/** XᵀX/r + I for X [r × n], r = 64, through the kernels' float32 GEMM (exact enough for a benchmark input). */
function spd(kernels: Kernels, n: number): Float64Array {
  const rng = new SeededRandom(n);
  const r = 64;
  const xt = Float32Array.from({ length: n * r }, () => rng.normal());
  const product = new Float32Array(n * n);
  kernels.gemmNT(n, n, r, xt, 0, r, xt, 0, r, product, 0, n);
  const a = Float64Array.from(product, (v) => v / r);
  for (let i = 0; i < n; i++) a[i * n + i] = a[i * n + i]! + 1;
  return a;
}

function best(runs: number, body: () => void): number {
  let t = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    body();
    t = Math.min(t, performance.now() - t0);
  }
  return Number((t / 1000).toFixed(3));
}

export async function benchLinalg(): Promise<Record<string, number>> {
  const referenceMax = Number(process.env.BITSMITH_LINALG_REFERENCE_MAX ?? 2048);
  const out: Record<string, number> = { load_average_1min_before: Number(loadavg()[0]!.toFixed(2)) };
  const one = await createNodeKernels({ kind: "wasm", threads: 1 });
  const two = await createNodeKernels({ kind: "wasm", threads: 2 });
  try {
    for (const n of [1024, 2048, 4096]) {
      const a = spd(two, n);
      const factor = (k: Kernels) => () => {
        if (!k.upperCholeskyOfInverse(Float64Array.from(a), n)) throw new Error(`not positive definite at n=${n}`);
      };
      if (n <= referenceMax) out[`factor${n}_reference_s`] = best(1, factor(new ReferenceKernels()));
      out[`factor${n}_wasm_1thread_s`] = best(2, factor(one));
      out[`factor${n}_wasm_2threads_s`] = best(2, factor(two));
    }
    const n = 4096;
    const rng = new SeededRandom(11);
    const w = Float32Array.from({ length: n * n }, () => rng.normal() * 0.02);
    const h = spd(two, n);
    const t0 = performance.now();
    gptqQuantize("layer", w, n, n, h, { format: { kind: "integer", scheme: { bits: 4, groupSize: 128, symmetric: true } }, kernels: two });
    out.layer4096_gptq_2threads_s = Number(((performance.now() - t0) / 1000).toFixed(2));
  } finally {
    await Promise.all([one.close(), two.close()]);
  }
  out.load_average_1min_after = Number(loadavg()[0]!.toFixed(2));
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(JSON.stringify(await benchLinalg(), null, 2) + "\n");
