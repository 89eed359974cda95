/**
 * The worker side of OnnxGemm: one onnxruntime session of a single FusedMatMul (transB) node on one thread,
 * computing one column slice of a product over the kernels' shared memory. onnxruntime-node refuses tensors
 * over a SharedArrayBuffer, so the operands are copied into this worker's own buffers first (a memory-bound
 * pass of a few percent of the product's time at the sizes the kernels send here); the result comes back in
 * onnxruntime's own buffer and is copied (or added) into C. Completion and errors go through the shared control
 * block, because the thread that waits is blocked in Atomics.wait and reads no messages.
 */
import { parentPort } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";
import { KernelControl } from "../kernels/kernel-control.js";

export interface OnnxGemmSetup {
  readonly kind: "setup";
  readonly memory: WebAssembly.Memory;
  readonly control: SharedArrayBuffer;
  readonly model: Uint8Array;
}

/** C [m × n] (ldc) (+)= A [m × k] · B [n × k]ᵀ; byte addresses. */
export interface OnnxGemmTask {
  readonly kind: "task";
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly ldc: number;
  readonly accumulate: boolean;
}

export type OnnxGemmReply = { readonly ready: true } | { readonly error: string };

let state: { session: InferenceSession; memory: WebAssembly.Memory; control: KernelControl; ort: typeof import("onnxruntime-node") } | undefined;
/** An unshared copy of an operand, its buffer kept between tasks and grown when too small. */
class UnsharedCopy {
  private buffer = new Float32Array(new ArrayBuffer(0));

  /** `count` floats at byte address `at` of `source`. */
  of(source: ArrayBufferLike, at: number, count: number): Float32Array<ArrayBuffer> {
    if (this.buffer.length < count) this.buffer = new Float32Array(new ArrayBuffer(4 * count));
    const copy = this.buffer.subarray(0, count);
    copy.set(new Float32Array(source, at, count));
    return copy;
  }
}

const copyA = new UnsharedCopy();
const copyB = new UnsharedCopy();

async function setup(message: OnnxGemmSetup): Promise<void> {
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(message.model, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: "sequential",
  });
  state = { session, memory: message.memory, control: new KernelControl(message.control), ort };
}

async function run(t: OnnxGemmTask): Promise<void> {
  const { session, memory, control, ort } = state!;
  try {
    // The buffer is read per task: a shared memory that grew has a new, longer buffer.
    const buffer = memory.buffer;
    const feeds = {
      A: new ort.Tensor("float32", copyA.of(buffer, t.a, t.m * t.k), [t.m, t.k]),
      B: new ort.Tensor("float32", copyB.of(buffer, t.b, t.n * t.k), [t.n, t.k]),
    };
    const product = (await session.run(feeds)).C!.data as Float32Array;
    for (let r = 0; r < t.m; r++) {
      const row = product.subarray(r * t.n, (r + 1) * t.n);
      const c = new Float32Array(buffer, t.c + 4 * r * t.ldc, t.n);
      if (t.accumulate) for (let j = 0; j < t.n; j++) c[j] = c[j]! + row[j]!;
      else c.set(row);
    }
  } catch (e) {
    control.fail(e instanceof Error ? (e.stack ?? e.message) : String(e));
  } finally {
    control.done();
  }
}

parentPort!.on("message", (message: OnnxGemmSetup | OnnxGemmTask) => {
  if (message.kind === "task") {
    void run(message);
    return;
  }
  setup(message).then(
    () => parentPort!.postMessage({ ready: true } satisfies OnnxGemmReply),
    (e: unknown) => parentPort!.postMessage({ error: e instanceof Error ? e.message : String(e) } satisfies OnnxGemmReply),
  );
});
