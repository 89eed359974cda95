/**
 * Matrix kernels, GFLOP/s from the best wall-clock time of several runs (2·m·n·k flops), in alternating rounds:
 *  - GEMM C = A·Bᵀ (bitsmith's gemmNT) at 1024³, 2048³ and 512 tokens × 2048 inputs × 5632 outputs (a
 *    2048-hidden Llama's MLP projection), and GEMV 1 × 4096 × 4096 (one token through a 4096² matrix);
 *  - on 1 and 2 threads, with relaxed-SIMD FMA ("fma", Node's path) and with plain SIMD128 mul + add ("simd128",
 *    the path of runtimes without relaxed SIMD);
 *  - Node's native paths where present: bitsmith's addon ("native": kind "native", native/gemm.c, built by npm
 *    install) and onnxruntime-node's MLAS ("onnxruntime"), the large products on them, GEMV on WebAssembly;
 *  - the float64-lane product quantized weights use ("fma_float64", "native_float64", 512 × 2048 × 5632);
 *  - the same shapes through OpenBLAS (cblas_sgemm / cblas_sgemv, bench/openblas-gemm.c compiled here) when a C
 *    compiler and libopenblas-dev are installed, and the ratios bitsmith / OpenBLAS; skipped otherwise.
 * Wall-clock figures drop when other processes share the cores (loadavg_1min is reported for context). On one
 * thread the bench also reports GFLOP/s by the process's CPU time ("_cpu" keys, for both bitsmith and OpenBLAS),
 * which such load does not inflate; the "_cpu_vs_openblas" ratio is then the steadier comparison.
 * Run directly: node dist/bench/kernels.js
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { SeededRandom } from "../src/core/index.js";
import type { Accumulation, Kernels } from "../src/kernels/index.js";
import { createNodeKernels, nativeBackends } from "../src/node/kernels.js";

const SHAPES: { name: string; m: number; n: number; k: number; runs: number }[] = [
  { name: "gemm_1024", m: 1024, n: 1024, k: 1024, runs: 7 },
  { name: "gemm_2048", m: 2048, n: 2048, k: 2048, runs: 5 },
  { name: "gemm_512x2048x5632", m: 512, n: 5632, k: 2048, runs: 5 },
  { name: "gemv_4096", m: 1, n: 4096, k: 4096, runs: 30 },
];
const THREADS = [1, 2];

/**
 * Best GFLOP/s of `runs` calls of C = A·Bᵀ by wall clock and by process CPU time (after one warm-up call, which
 * also lets V8 optimise).
 */
function gflops(kernels: Kernels, m: number, n: number, k: number, runs: number, accumulation: Accumulation = "float32"): { wall: number; cpu: number } {
  const rnd = new SeededRandom(1);
  const a = rnd.fillNormal(kernels.allocate(m * k), 1);
  const b = rnd.fillNormal(kernels.allocate(n * k), 1);
  const c = kernels.allocate(m * n);
  let best = Infinity;
  let bestCpu = Infinity;
  for (let r = 0; r <= runs; r++) {
    const t = performance.now();
    const u = process.cpuUsage();
    kernels.gemmNT(m, n, k, a, 0, k, b, 0, k, c, 0, n, { accumulation });
    const used = process.cpuUsage(u);
    if (r === 0) continue;
    best = Math.min(best, performance.now() - t);
    bestCpu = Math.min(bestCpu, (used.user + used.system) / 1000);
  }
  for (const v of [a, b, c]) kernels.release(v);
  return { wall: (2 * m * n * k) / best / 1e6, cpu: (2 * m * n * k) / bestCpu / 1e6 };
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

function openBlasGflops(binary: string, threads: number, m: number, n: number, k: number, runs: number): { wall: number; cpu: number } {
  const text = execFileSync(binary, [m, n, k, runs].map(String), { env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) }, encoding: "utf8" });
  const [wall, cpu] = text.trim().split(/\s+/).map(Number);
  return { wall: wall!, cpu: cpu! };
}

/**
 * Rounds per shape: each round runs every path and OpenBLAS once (a best of `runs` calls each), and each keeps
 * its best round, so a burst of load from other tenants of the machine lowers one round, not one side's figure.
 */
const ROUNDS = 3;

/** Each shape runs on bitsmith's paths and OpenBLAS in alternating rounds, so load from other processes hits all alike. */
export async function benchKernels(): Promise<Record<string, number>> {
  const out: Record<string, number> = { loadavg_1min: loadavg()[0]! };
  const dir = mkdtempSync(path.join(tmpdir(), "bitsmith-openblas-"));
  const best = (x: { wall: number; cpu: number } | undefined, y: { wall: number; cpu: number }) => (x ? { wall: Math.max(x.wall, y.wall), cpu: Math.max(x.cpu, y.cpu) } : y);
  try {
    const openblas = buildOpenBlas(dir);
    for (const threads of THREADS) {
      const paths: Record<string, Kernels> = {
        fma: await createNodeKernels({ threads, relaxed: true, kind: "wasm" }),
        simd128: await createNodeKernels({ threads, relaxed: false, kind: "wasm" }),
      };
      for (const kind of nativeBackends()) paths[kind] = await createNodeKernels({ threads, kind });
      try {
        for (const { name, m, n, k, runs } of SHAPES) {
          const key = `${name}.t${threads}`;
          const results: Record<string, { wall: number; cpu: number }> = {};
          const perRound = Math.ceil(runs / 2);
          for (let round = 0; round < ROUNDS; round++) {
            for (const [label, kernels] of Object.entries(paths)) results[label] = best(results[label], gflops(kernels, m, n, k, perRound));
            if (openblas) results.openblas = best(results.openblas, openBlasGflops(openblas, threads, m, n, k, perRound));
          }
          for (const [label, r] of Object.entries(results)) {
            out[`${key}.${label}_gflops`] = r.wall;
            if (threads === 1) out[`${key}.${label}_cpu_gflops`] = r.cpu;
          }
          if (!results.openblas) continue;
          for (const label of Object.keys(paths)) {
            out[`${key}.${label}_vs_openblas`] = results[label]!.wall / results.openblas.wall;
            if (threads === 1) out[`${key}.${label}_cpu_vs_openblas`] = results[label]!.cpu / results.openblas.cpu;
          }
        }
        // The float64-lane product of quantized weights (llama.cpp's integer dot products), on the portable path
        // and on the addon (onnxruntime has none: its kernels leave these products to WebAssembly).
        const { name, m, n, k, runs } = SHAPES[2]!;
        for (const label of ["fma", "native"]) {
          if (paths[label]) out[`${name}.t${threads}.${label}_float64_gflops`] = gflops(paths[label], m, n, k, runs, "float64").wall;
        }
      } finally {
        await Promise.all(Object.values(paths).map((k) => k.close()));
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
