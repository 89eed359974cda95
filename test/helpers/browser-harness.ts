/**
 * Node's side of the browser tests and benches: a local HTTP server for a compiled output directory (dist or
 * dist-<name>) that makes pages cross-origin isolated, Debian's Chromium driven headless by playwright-core,
 * and a check that the modules a page loads import nothing a browser cannot resolve.
 */
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { chromium } from "playwright-core";
import type { Browser, Page } from "playwright-core";
import type { KernelPageReply, KernelPageRequest } from "./browser-kernels-worker.js";

export const CHROMIUM = "/usr/bin/chromium";
/** Why browser tests skip here, or false when Chromium is installed. */
export const chromiumMissing: string | false = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (Debian: apt-get install chromium)`;

/** Pages under this prefix are served without the isolation headers (a page that is not cross-origin isolated). */
export const PLAIN = "/plain";

const TYPES: Record<string, string> = { ".js": "text/javascript", ".html": "text/html", ".json": "application/json" };
const PAGE = "<!doctype html><meta charset=utf-8><title>bitsmith browser test</title>";

/**
 * Serves `root` on 127.0.0.1 with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy:
 * require-corp (so SharedArrayBuffer exists), except under PLAIN; "/" is an empty page.
 */
export async function serveIsolated(root: string): Promise<{ origin: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const plain = url.pathname === PLAIN || url.pathname.startsWith(PLAIN + "/");
    const rel = decodeURIComponent(plain ? url.pathname.slice(PLAIN.length) : url.pathname);
    if (!plain) {
      res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
      res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    }
    if (rel === "/" || rel === "") {
      res.setHeader("Content-Type", "text/html");
      res.end(PAGE);
      return;
    }
    const file = path.join(root, rel);
    if (!file.startsWith(root + path.sep) || !existsSync(file)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader("Content-Type", TYPES[path.extname(file)] ?? "application/octet-stream");
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * Starts test/helpers/browser-kernels-worker.js as a dedicated module worker of `page` (the kernels' calling
 * thread), sends it one request and returns its answer.
 */
export function askKernelWorker(page: Page, workerUrl: string, request: KernelPageRequest): Promise<KernelPageReply> {
  return page.evaluate(
    ({ workerUrl, request }) =>
      new Promise<KernelPageReply>((resolve, reject) => {
        const worker = new Worker(workerUrl, { type: "module" });
        worker.onmessage = (e: MessageEvent<KernelPageReply>) => {
          worker.terminate();
          resolve(e.data);
        };
        worker.onerror = (e) => {
          worker.terminate();
          reject(new Error(`test worker failed: ${e.message || "its module could not be loaded"}`));
        };
        worker.postMessage(request);
      }),
    { workerUrl, request },
  );
}

/**
 * The import specifiers in `entries` and every compiled module they import (relatively, transitively) that a
 * browser could not resolve without an import map: anything not starting with "./", "../" or "/".
 */
export function bareImports(entries: string[]): { file: string; specifier: string }[] {
  const found: { file: string; specifier: string }[] = [];
  const seen = new Set<string>();
  const pending = [...entries];
  const patterns = [/^\s*(?:import|export)\b[^;]*?\bfrom\s*["']([^"']+)["']/gm, /^\s*import\s*["']([^"']+)["']/gm, /\bimport\(\s*["']([^"']+)["']\s*\)/g];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, "utf8");
    for (const pattern of patterns) {
      for (const [, specifier] of text.matchAll(pattern)) {
        if (/^\.{0,2}\//.test(specifier!)) pending.push(path.resolve(path.dirname(file), specifier!));
        else found.push({ file, specifier: specifier! });
      }
    }
  }
  return found;
}
