/**
 * Run-time detection of the WebAssembly features the kernels use: 128-bit SIMD (all current browsers, Node ≥ 16)
 * and relaxed SIMD's fused multiply-add (Chrome ≥ 114, Firefox ≥ 145, Node ≥ 22; Node 20 only with
 * --experimental-wasm-relaxed-simd, which bitsmith/node sets). Each is probed by validating a one-instruction
 * module.
 */
import { FunctionBuilder, encodeModule, f32x4 } from "./wasm-emitter.js";

export interface WasmSimdSupport {
  simd: boolean;
  relaxed: boolean;
}

function validates(body: (f: FunctionBuilder) => void): boolean {
  if (typeof WebAssembly === "undefined") return false;
  const f = new FunctionBuilder("probe", ["v128"], ["v128"]);
  body(f);
  try {
    return WebAssembly.validate(encodeModule({ initial: 1, maximum: 1, shared: false }, [f]));
  } catch {
    return false;
  }
}

export function detectWasmSimd(): WasmSimdSupport {
  const simd = validates((f) => f.push(f32x4.add(f.params[0]!.get(), f.params[0]!.get())));
  const relaxed = simd && validates((f) => f.push(f32x4.relaxedMadd(f.params[0]!.get(), f.params[0]!.get(), f.params[0]!.get())));
  return { simd, relaxed };
}
