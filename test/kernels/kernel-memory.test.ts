/** The kernels' memory: first-fit reuse, coalescing of freed neighbours, the growth limit, and recognising views. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { KernelMemory } from "../../src/kernels/kernel-memory.js";

test("allocations are aligned, reused first-fit and coalesced when freed; the top shrinks back", () => {
  const m = new KernelMemory({ maximumBytes: 4 * 65536 });
  const a = m.allocate(100)!;
  const b = m.allocate(1000)!;
  const c = m.allocate(64)!;
  for (const x of [a, b, c]) assert.equal(x % 64, 0);
  assert.ok(a > 0 && b >= a + 100 && c >= b + 1000);
  m.release(b);
  assert.equal(m.allocate(500), b, "a freed range is reused");
  m.release(b);
  m.release(a);
  assert.equal(m.allocate(1100), a, "freed neighbours merge into one range");
  m.release(a);
  m.release(c);
  assert.equal(m.allocate(64), a, "everything freed: allocation starts over");
  assert.throws(() => m.release(12345), /no allocation/);
});

test("growth stops at the maximum, or earlier when asked to keep room free", () => {
  const m = new KernelMemory({ maximumBytes: 4 * 65536 });
  assert.equal(m.allocate(5 * 65536), undefined);
  assert.equal(m.allocate(2 * 65536, 2 * 65536), undefined);
  const x = m.allocate(2 * 65536, 65536);
  assert.ok(x !== undefined && m.byteLength >= x + 2 * 65536);
});

test("views of the memory are recognised (also across growth), others are not", () => {
  const m = new KernelMemory();
  const at = m.allocate(256)!;
  const before = m.f32(at, 64);
  m.ensure(m.byteLength + 10 * 65536);
  assert.equal(m.addressOf(before), at);
  assert.equal(m.addressOf(m.f32(at + 16, 4)), at + 16);
  assert.equal(m.addressOf(new Float32Array(64)), undefined);
  assert.equal(m.addressOf(new Float32Array(new SharedArrayBuffer(1 << 20))), undefined);
  assert.equal(new KernelMemory().addressOf(before), undefined, "another kernel memory");
});
