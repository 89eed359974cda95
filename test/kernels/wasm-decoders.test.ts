/**
 * The WebAssembly weight decoders against the codecs (themselves tested against ggml): every fp16 and bf16 bit
 * pattern (subnormals, infinities, NaNs), and random Q8_0 and Q4_0 blocks, decoded to the same float32 bits.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { toFloat32 } from "../../src/codecs/convert.js";
import { decodeRows } from "../../src/kernels/kernel-tasks.js";
import type { KernelExports } from "../../src/kernels/kernel-tasks.js";
import { gemmModuleBytes } from "../../src/kernels/wasm/gemm-module.js";

function instance(pages: number): { exports: KernelExports; memory: WebAssembly.Memory } {
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const module = new WebAssembly.Module(gemmModuleBytes({ relaxed: false, memory: { initial: pages, maximum: pages, shared: false } }));
  return { exports: new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports, memory };
}

/** Decodes `bytes` of `type` in WebAssembly memory and by the codec; compares the float32 bit patterns. */
function check(name: string, bytes: Uint8Array, count: number): void {
  const type = tensorType(name)!;
  const { exports, memory } = instance(Math.ceil((bytes.length + count * 4 + 64) / 65536) + 1);
  new Uint8Array(memory.buffer, 0, bytes.length).set(bytes);
  const dst = Math.ceil(bytes.length / 64) * 64;
  decodeRows(exports, memory, type, 0, dst, count);
  const got = new Uint32Array(memory.buffer, dst, count);
  const want = new Uint32Array(toFloat32(bytes, type, count).buffer);
  for (let i = 0; i < count; i++) if (got[i] !== want[i]) assert.fail(`${name} value ${i}: bits ${got[i]!.toString(16)} vs ${want[i]!.toString(16)}`);
}

test("F16 and BF16: all 65536 bit patterns (and a count that is not a multiple of 8) decode as the codecs do", () => {
  const all = new Uint16Array(65536 + 3).map((_, i) => i & 0xffff);
  for (const name of ["F16", "BF16"]) check(name, new Uint8Array(all.buffer), all.length);
});

test("Q8_0 and Q4_0 blocks decode as the codecs do", () => {
  const rnd = new SeededRandom(4);
  for (const name of ["Q8_0", "Q4_0"]) {
    const values = rnd.fillNormal(new Float32Array(64 * 32), 1);
    values[5] = 0;
    values.fill(0, 64, 96); // an all-zero block
    check(name, requireCodec(name).quantize(values, 64, 32), values.length);
  }
});
