/**
 * One worker pool serves row quantization and the kernels at once: quantized bytes equal the single-threaded
 * quantizer's, products equal the single-threaded kernels', and a failing kernel task reports its error to the
 * waiting thread instead of hanging it.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { SeededRandom } from "../../src/core/index.js";
import "../../src/codecs/index.js";
import { SingleThreadRowQuantizer } from "../../src/quantize/row-quantizer.js";
import { createNodeKernels } from "../../src/node/kernels.js";
import { WorkerKernelExecutor } from "../../src/node/worker-kernel-executor.js";
import { WorkerPool } from "../../src/node/worker-pool.js";
import { WorkerRowQuantizer } from "../../src/node/worker-row-quantizer.js";
import { WasmKernels } from "../../src/kernels/index.js";

test("a shared pool quantizes rows and runs kernel tasks, with the results of one thread", async () => {
  const pool = new WorkerPool(3);
  const quantizer = new WorkerRowQuantizer(pool);
  const kernels = await createNodeKernels({ pool });
  const single = await createNodeKernels({ threads: 1 });
  try {
    assert.equal(kernels.threads, 3);
    const rnd = new SeededRandom(8);
    const rows = 96;
    const rowLength = 256;
    const values = rnd.fillNormal(new Float32Array(rows * rowLength), 0.02);
    const job = { tensor: "t", from: "F32", to: "Q4_K", rowLength, firstRow: 0, rows, bytes: new Uint8Array(values.buffer), rowsPerMatrix: rows };
    const quantized = quantizer.convert(job);
    const [m, n, k] = [40, 300, 256];
    const a = rnd.fillNormal(new Float32Array(m * k), 1);
    const b = rnd.fillNormal(new Float32Array(n * k), 1);
    const c3 = new Float32Array(m * n);
    const c1 = new Float32Array(m * n);
    kernels.gemmNT(m, n, k, a, 0, k, b, 0, k, c3, 0, n);
    single.gemmNT(m, n, k, a, 0, k, b, 0, k, c1, 0, n);
    assert.deepEqual(c3, c1);
    assert.deepEqual(await quantized, await new SingleThreadRowQuantizer().convert(job));
  } finally {
    await kernels.close(); // leaves the shared pool open
    await quantizer.close();
    await single.close();
    await pool.close();
  }
});

test("an error in a kernel worker reaches the thread waiting for it", async () => {
  const pool = new WorkerPool(2);
  const executor = new WorkerKernelExecutor(pool, true);
  const kernels = await WasmKernels.create({ executor });
  try {
    const task = { kind: "decode-gemm", type: "NO_SUCH_TYPE", m: 1, n: 4, k: 4, a: 64, lda: 4, c: 64, ldc: 4, accumulate: false, float64: false, scratch: 64, w: 64, rowBytes: 16, decoded: 64, chunkRows: 4 } as const;
    assert.throws(() => executor.start([task]).wait(), /kernel worker failed/);
    // The pool still works afterwards.
    const x = new Float32Array(64).fill(1);
    const y = new Float32Array(4 * 16);
    kernels.gemmNT(4, 16, 4, x, 0, 4, x, 0, 4, y, 0, 16);
    assert.ok(y.every((v) => v === 4));
  } finally {
    await kernels.close();
  }
});
