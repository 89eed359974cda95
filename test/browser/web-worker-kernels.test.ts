/**
 * bitsmith's multi-threaded kernels in a real browser: Debian's Chromium, headless, loads the compiled modules
 * from a local server that makes the page cross-origin isolated. A dedicated worker of the page (the kernels'
 * calling thread) creates the kernels on 1 and on 2 threads (the second thread a nested Web Worker) and runs
 * GEMMs of odd shapes and the engine's decode-GEMM (quantized weights in the kernels' memory). Proven here:
 * the results equal the JavaScript reference kernels within the error bound the Node kernel tests use, 1 and
 * 2 threads give the same bits, and the modules a page loads import nothing a browser cannot resolve. Where
 * the browser cannot run kernel workers (the main thread, a page that is not cross-origin isolated) asking for
 * 2 threads is a BitsmithError saying why, and the default is 1 thread. Skipped without /usr/bin/chromium.
 */
import { test } from "node:test";
import type { TestContext } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { tensorType } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { ReferenceKernels, gemmNT } from "../../src/kernels/index.js";
import type { Accumulation } from "../../src/kernels/kernels.js";
import { DECODE_CASES, GEMM_CASES, decodeInputs, gemmInputs, hashArrays } from "../helpers/browser-kernel-cases.js";
import { PLAIN, askKernelWorker, bareImports, chromiumMissing, launchChromium, serveIsolated } from "../helpers/browser-harness.js";
import type { KernelPageReply, ProductResult } from "../helpers/browser-kernels-worker.js";
import { gemmErrorBound } from "../helpers/gemm-error-bound.js";

/** The compiled output directory this test runs from (dist or dist-<name>), served as the site's root. */
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const WORKER = "/test/helpers/browser-kernels-worker.js";
const BROWSER_ENTRY = "/src/browser/index.js";

test("the modules a page loads for the browser kernels import nothing a browser cannot resolve", () => {
  const entries = [BROWSER_ENTRY, "/src/browser/kernel-worker.js", WORKER].map((f) => path.join(ROOT, f));
  assert.deepEqual(bareImports(entries), []);
});

const abs = (v: Float32Array) => v.map(Math.abs);

/**
 * Checks `got` against the reference product `want` (float64 sums rounded to float32 once, hence one more
 * rounding in the bound) with `absSum` = Σ|a·b| per element.
 */
function assertWithinBound(output: string, want: Float32Array, absSum: Float32Array, k: number, accumulation: Accumulation, what: string): void {
  // Copied: a Buffer from the pool may start at an offset a Float32Array cannot.
  const got = new Float32Array(new Uint8Array(Buffer.from(output, "base64")).buffer);
  assert.equal(got.length, want.length, `${what}: output length`);
  for (let i = 0; i < want.length; i++) {
    const s = absSum[i]! * (1 + 2 ** -20);
    const bound = gemmErrorBound(k, s, accumulation === "float64") + 2 ** -24 * s;
    if (!(Math.abs(got[i]! - want[i]!) <= bound)) assert.fail(`${what} at ${i}: ${got[i]} vs reference ${want[i]} (bound ${bound})`);
  }
}

function products(reply: KernelPageReply): Extract<KernelPageReply, { kind: "products" }> {
  if (reply.kind !== "products") assert.fail(`the page answered ${JSON.stringify(reply)}`);
  return reply;
}

function checkGemm(results: ProductResult[], threads: number): void {
  const reference = new ReferenceKernels();
  GEMM_CASES.forEach((c, i) => {
    const { a, b } = gemmInputs(c, i);
    const what = `${c.m}x${c.n}x${c.k} ${c.accumulation}${c.inMemory ? "" : " (copied in)"} on ${threads} thread(s)`;
    assert.equal(results[i]!.inputs, hashArrays(a, b), `${what}: the page's inputs differ from Node's`);
    const want = new Float32Array(c.m * c.n);
    reference.gemmNT(c.m, c.n, c.k, a, 0, c.k, b, 0, c.k, want, 0, c.n);
    const absSum = new Float32Array(c.m * c.n);
    gemmNT(c.m, c.n, c.k, abs(a), 0, c.k, abs(b), 0, c.k, absSum, 0, c.n);
    assertWithinBound(results[i]!.output, want, absSum, c.k, c.accumulation, what);
  });
}

function checkDecode(results: ProductResult[], threads: number): void {
  const reference = new ReferenceKernels();
  DECODE_CASES.forEach((c, i) => {
    const { x, data } = decodeInputs(c, i);
    const what = `decode-GEMM ${c.type} ${c.rows}x${c.n}x${c.k} on ${threads} thread(s)`;
    assert.equal(results[i]!.inputs, hashArrays(x, data), `${what}: the page's inputs differ from Node's`);
    const want = new Float32Array(c.rows * c.n);
    reference.matmul(x, c.rows, { rows: c.n, cols: c.k, type: tensorType(c.type)!, data }, want);
    const w = requireCodec(c.type).dequantize(data, c.n * c.k);
    const absSum = new Float32Array(c.rows * c.n);
    gemmNT(c.rows, c.n, c.k, abs(x), 0, c.k, abs(w), 0, c.k, absSum, 0, c.n);
    assertWithinBound(results[i]!.output, want, absSum, c.k, c.accumulation, what);
  });
}

test("browser kernels in Chromium", { skip: chromiumMissing, timeout: 60_000 }, async (t) => {
  const server = await serveIsolated(ROOT);
  let browser: Browser | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(server.origin + "/");
    await inChromium(t, server.origin, browser, page);
  } finally {
    await browser?.close();
    await server.close();
  }
});

/** The checks that need the browser: one page of the isolated site, and pages of PLAIN's made here. */
async function inChromium(t: TestContext, origin: string, browser: Browser, page: Page): Promise<void> {
  await t.test("GEMM and decode-GEMM on 1 and 2 threads equal the JavaScript reference within the kernels' error bound, with the same bits on both", async () => {
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, "the served page is cross-origin isolated");
    const one = products(await askKernelWorker(page, origin + WORKER, { kind: "products", threads: 1 }));
    const two = products(await askKernelWorker(page, origin + WORKER, { kind: "products", threads: 2 }));
    assert.equal(one.threads, 1);
    assert.equal(two.threads, 2, two.description);
    for (const run of [one, two]) {
      checkGemm(run.gemm, run.threads);
      checkDecode(run.decode, run.threads);
    }
    // The outputs' bytes as base64: equal strings are equal bits.
    GEMM_CASES.forEach((c, i) => assert.ok(two.gemm[i]!.output === one.gemm[i]!.output, `${c.m}x${c.n}x${c.k} ${c.accumulation}: 2 threads differ from 1`));
    DECODE_CASES.forEach((c, i) => assert.ok(two.decode[i]!.output === one.decode[i]!.output, `decode-GEMM ${c.type}: 2 threads differ from 1`));
  });

  await t.test("on the main thread 2 threads are a BitsmithError (it may not block); the default there is 1 thread", async () => {
    const outcome = await page.evaluate(async (entry) => {
      const { createBrowserKernels } = await import(entry);
      const single = await createBrowserKernels();
      const threads: number = single.threads;
      await single.close();
      try {
        await createBrowserKernels({ threads: 2 });
        return { threads, error: "none" };
      } catch (e) {
        return { threads, error: `${(e as Error).name}: ${(e as Error).message}` };
      }
    }, origin + BROWSER_ENTRY);
    assert.equal(outcome.threads, 1);
    assert.match(outcome.error, /^BitsmithError: threads: .*main thread.*dedicated Web Worker/);
  });

  await t.test("a page that is not cross-origin isolated gets a BitsmithError naming the headers for 2 threads, and 1 thread by default", async () => {
    const plain = await browser.newPage();
    try {
      await plain.goto(origin + PLAIN + "/");
      assert.equal(await plain.evaluate(() => crossOriginIsolated), false);
      const refused = await askKernelWorker(plain, origin + PLAIN + WORKER, { kind: "create", threads: 2 });
      assert.equal(refused.kind, "error");
      if (refused.kind === "error") {
        assert.equal(refused.name, "BitsmithError");
        assert.match(refused.message, /not cross-origin isolated.*Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
      }
      const fallback = await askKernelWorker(plain, origin + PLAIN + WORKER, { kind: "create" });
      assert.deepEqual(fallback.kind === "created" && fallback.threads, 1, JSON.stringify(fallback));
    } finally {
      await plain.close();
    }
  });
}
