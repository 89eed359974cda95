/**
 * GEMM 1024³ (C = A·Bᵀ, 2·n³ flops) in headless Chromium on 1 and 2 threads: bitsmith's browser kernels
 * driven from a dedicated worker of a cross-origin isolated page, the second thread a nested Web Worker
 * (test/helpers/browser-harness.ts serves the compiled tree and launches Debian's /usr/bin/chromium).
 * GFLOP/s from the best of several calls after a warm-up. Reports { skipped: 1 } without Chromium.
 * Run directly: node dist/bench/browser-kernels.js
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { askKernelWorker, chromiumMissing, launchChromium, serveIsolated } from "../test/helpers/browser-harness.js";

const SIZE = 1024;
const RUNS = 5;
const THREADS = [1, 2];
/** The compiled output directory (dist or dist-<name>) this file runs from. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export async function benchBrowserKernels(): Promise<Record<string, number>> {
  if (chromiumMissing) {
    process.stderr.write(`bench browser-kernels: skipped, ${chromiumMissing}\n`);
    return { skipped: 1 };
  }
  const server = await serveIsolated(ROOT);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(server.origin + "/");
    const out: Record<string, number> = {};
    for (const threads of THREADS) {
      const reply = await askKernelWorker(page, server.origin + "/test/helpers/browser-kernels-worker.js", { kind: "bench", threads, size: SIZE, runs: RUNS });
      if (reply.kind !== "bench") throw new Error(`bench page answered ${JSON.stringify(reply)}`);
      out[`chromium_gemm_${SIZE}.t${threads}_gflops`] = reply.gflops;
    }
    return out;
  } finally {
    await browser.close();
    await server.close();
  }
}

if (process.argv[1]?.endsWith("browser-kernels.js")) console.log(JSON.stringify(await benchBrowserKernels(), null, 1));
