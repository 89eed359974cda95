/**
 * Whether this browser thread can run kernels on Web Workers. The kernels' calls are synchronous, so the
 * calling thread blocks in Atomics.wait while the workers compute: that needs SharedArrayBuffer (a
 * cross-origin isolated page: COOP same-origin + COEP require-corp), a thread allowed to block (a dedicated
 * worker; browsers forbid Atomics.wait on the main thread) and Worker in that thread (nested workers).
 */

/** Why this thread cannot drive kernel workers, or undefined when it can. */
export function kernelThreadsUnavailable(): string | undefined {
  if (!globalThis.crossOriginIsolated || typeof SharedArrayBuffer === "undefined") {
    return "the page is not cross-origin isolated, so it has no SharedArrayBuffer: serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp";
  }
  if (!canBlock()) return "this thread may not block in Atomics.wait (a browser's main thread): create the kernels in a dedicated Web Worker";
  if (typeof Worker === "undefined") return "this thread cannot start Web Workers: create the kernels in a dedicated Web Worker of a browser that supports nested workers";
  return undefined;
}

/** Atomics.wait on a value that does not match returns at once where blocking is allowed and throws where not. */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}
