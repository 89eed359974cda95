/**
 * Matrix kernels, GFLOP/s from the best wall-clock time of several runs (2·m·n·k flops):
 *  - GEMM C = A·Bᵀ (bitsmith's gemmNT) at 1024³, 2048³ and 512 tokens × 2048 inputs × 5632 outputs (a
 *    2048-hidden Llama's MLP projection), and GEMV 1 × 4096 × 4096 (one token through a 4096² matrix);
 *  - on 1 and 2 threads, with relaxed-SIMD FMA ("fma", Node's path) and with plain SIMD128 mul + add ("simd128",
 *    the path of runtimes without relaxed SIMD);
 *  - the same shapes through OpenBLAS (cblas_sgemm / cblas_sgemv, bench/openblas-gemm.c compiled here) when a C
 *    compiler and libopenblas-dev are installed, and the ratios bitsmith / OpenBLAS; skipped otherwise.
 * Wall-clock figures drop when other processes share the cores: loadavg_1min is reported for context.
 * Run directly: node dist/bench/kernels.js
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { SeededRandom } from "../src/core/index.js";
import { createNodeKernels } from "../src/node/kernels.js";

const SHAPES: { name: string; m: number; n: number; k: number; runs: number }[] = [
  { name: "gemm_1024", m: 1024, n: 1024, k: 1024, runs: 7 },
  { name: "gemm_2048", m: 2048, n: 2048, k: 2048, runs: 5 },
  { name: "gemm_512x2048x5632", m: 512, n: 5632, k: 2048, runs: 5 },
  { name: "gemv_4096", m: 1, n: 4096, k: 4096, runs: 30 },
];
const THREADS = [1, 2];

async function benchBitsmith(threads: number, relaxed: boolean, out: Record<string, number>, label: string): Promise<void> {
  const kernels = await createNodeKernels({ threads, relaxed, kind: "wasm" });
  const rnd = new SeededRandom(1);
  try {
    for (const { name, m, n, k, runs } of SHAPES) {
      const a = rnd.fillNormal(kernels.allocate(m * k), 1);
      const b = rnd.fillNormal(kernels.allocate(n * k), 1);
      const c = kernels.allocate(m * n);
      let best = Infinity;
      for (let r = 0; r <= runs; r++) {
        const t = performance.now();
        kernels.gemmNT(m, n, k, a, 0, k, b, 0, k, c, 0, n);
        if (r > 0) best = Math.min(best, performance.now() - t); // run 0 warms up (and lets V8 optimise the code)
      }
      out[`${name}.t${threads}.${label}_gflops`] = (2 * m * n * k) / best / 1e6;
      for (const v of [a, b, c]) kernels.release(v);
    }
  } finally {
    await kernels.close();
  }
}

/** Compiles the OpenBLAS driver; undefined when there is no compiler or no OpenBLAS. */
function buildOpenBlas(dir: string): string | undefined {
  const source = path.join(path.dirname(fileURLToPath(import.meta.url)), "../../bench/openblas-gemm.c");
  const binary = path.join(dir, "openblas-gemm");
  for (const cc of ["cc", "gcc", "clang"]) {
    try {
      execFileSync(cc, ["-O2", "-o", binary, source, "-I/usr/include/openblas", "-lopenblas"], { stdio: "ignore" });
      return binary;
    } catch {
      // next compiler
    }
  }
  return undefined;
}

function benchOpenBlas(binary: string, out: Record<string, number>): void {
  for (const threads of THREADS) {
    for (const { name, m, n, k, runs } of SHAPES) {
      const text = execFileSync(binary, [m, n, k, runs].map(String), { env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) }, encoding: "utf8" });
      out[`${name}.t${threads}.openblas_gflops`] = Number(text.trim());
    }
  }
}

export async function benchKernels(): Promise<Record<string, number>> {
  const out: Record<string, number> = { loadavg_1min: loadavg()[0]! };
  for (const threads of THREADS) {
    await benchBitsmith(threads, true, out, "fma");
    await benchBitsmith(threads, false, out, "simd128");
  }
  const dir = mkdtempSync(path.join(tmpdir(), "bitsmith-openblas-"));
  try {
    const binary = buildOpenBlas(dir);
    if (binary) {
      benchOpenBlas(binary, out);
      for (const key of Object.keys(out).filter((k) => k.endsWith(".openblas_gflops"))) {
        const base = key.slice(0, -".openblas_gflops".length);
        for (const label of ["fma", "simd128"]) out[`${base}.${label}_vs_openblas`] = out[`${base}.${label}_gflops`]! / out[key]!;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  out.loadavg_1min_after = loadavg()[0]!;
  return out;
}

if (process.argv[1]?.endsWith("kernels.js")) {
  const result = await benchKernels();
  console.log(JSON.stringify(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Number(v.toPrecision(4))])), null, 1));
}
