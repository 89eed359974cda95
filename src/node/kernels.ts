/**
 * Kernels for Node: WebAssembly SIMD with relaxed-SIMD fused multiply-add switched on (Node 20 ships it behind a
 * flag), over bitsmith's worker pool, with the large products on native code: bitsmith's own addon when it was
 * built at install (AddonGemm: float32 and float64 sums), else onnxruntime-node's kernels when that optional
 * package is installed (OnnxGemm: float32 only).
 */
import { availableParallelism } from "node:os";
import { setFlagsFromString } from "node:v8";
import { WasmKernels, createKernels, detectWasmSimd } from "../kernels/index.js";
import type { KernelKind, Kernels } from "../kernels/index.js";
import { BitsmithError } from "../core/index.js";
import type { NativeGemm } from "../kernels/native-gemm.js";
import { AddonGemm, loadNativeAddon } from "./addon-gemm.js";
import { OnnxGemm, onnxRuntimeInstalled } from "./onnx-gemm.js";
import { WorkerKernelExecutor } from "./worker-kernel-executor.js";
import { WorkerPool } from "./worker-pool.js";

/**
 * Lets V8 compile relaxed-SIMD instructions (Node 20: --experimental-wasm-relaxed-simd; later versions have
 * them on). Process-wide, workers included; must run before the kernels are compiled.
 */
export function enableRelaxedSimd(): void {
  if (!detectWasmSimd().relaxed) setFlagsFromString("--experimental-wasm-relaxed-simd");
}

export interface NodeKernelOptions {
  /** Threads to compute on, the calling one included (default: the machine's parallelism). */
  threads?: number;
  /** Run on this pool's workers (threads = pool.threads); it stays open when the kernels close. */
  pool?: WorkerPool;
  /**
   * "auto" (default): WebAssembly, with the large products on bitsmith's native addon when it was built,
   * else on onnxruntime-node when it is installed and starts; "native": the same, failing when neither is
   * there; "onnxruntime": onnxruntime-node for them (failing without it); "wasm": WebAssembly only;
   * "reference": the plain JavaScript reference.
   */
  kind?: NodeKernelKind;
  relaxed?: boolean | "auto";
}

export type NodeKernelKind = KernelKind | "native" | "onnxruntime";

export const NODE_KERNEL_KINDS: readonly NodeKernelKind[] = ["auto", "native", "onnxruntime", "wasm", "reference"];

/** The kinds that select each native GEMM present here: "native" for bitsmith's addon, "onnxruntime". */
export function nativeBackends(): ("native" | "onnxruntime")[] {
  return [...(loadNativeAddon() ? (["native"] as const) : []), ...(onnxRuntimeInstalled() ? (["onnxruntime"] as const) : [])];
}

export async function createNodeKernels(options: NodeKernelOptions = {}): Promise<Kernels> {
  enableRelaxedSimd();
  const kind = options.kind ?? "auto";
  const addon = kind === "auto" || kind === "native" ? loadNativeAddon() : undefined;
  const onnx = !addon && (kind === "auto" || kind === "native" || kind === "onnxruntime") && onnxRuntimeInstalled();
  if (kind === "native" && !addon && !onnx) {
    throw new BitsmithError("native kernels need bitsmith's addon (built by npm install where a C compiler is present: npm run build:native) or the optional package onnxruntime-node: npm install onnxruntime-node", { field: "kernels" });
  }
  if (kind === "onnxruntime" && !onnx) {
    throw new BitsmithError("onnxruntime kernels need the optional package onnxruntime-node: npm install onnxruntime-node", { field: "kernels" });
  }
  if (kind === "reference" || !detectWasmSimd().simd) {
    if (kind === "native" || kind === "onnxruntime") throw new BitsmithError("native kernels need WebAssembly SIMD for the rest of the work", { field: "kernels" });
    return createKernels({ kind: "reference" });
  }
  const threads = options.pool?.threads ?? options.threads ?? availableParallelism();
  const native = addon ? new AddonGemm(threads, addon) : onnx ? new OnnxGemm(threads) : undefined;
  try {
    return await createWasm(options, threads, native);
  } catch (e) {
    // "auto" falls back to WebAssembly alone when the native GEMM (addon or onnxruntime-node) does not start.
    if (kind !== "auto" || !native) throw e;
    return createWasm(options, threads, undefined);
  }
}

async function createWasm(options: NodeKernelOptions, threads: number, native: NativeGemm | undefined): Promise<Kernels> {
  const pool = options.pool ?? (threads > 1 ? new WorkerPool(threads) : undefined);
  const executor = pool && pool.threads > 1 ? new WorkerKernelExecutor(pool, !options.pool) : undefined;
  try {
    return await WasmKernels.create({ executor, relaxed: options.relaxed, native });
  } catch (e) {
    await Promise.all([executor?.close(), native?.close()]);
    throw e;
  }
}
