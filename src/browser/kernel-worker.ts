/**
 * The entry module of one Web Worker of WebWorkerKernelExecutor (loaded as a module worker). "prepare" gives it
 * the shared kernel memory, the compiled kernel module and the control block, answered by message; "task" runs
 * one kernel task, whose completion is signalled through the control block only (the thread that started it
 * is blocked in Atomics.wait and reads no messages).
 */
import { KernelTaskRunner } from "../kernels/kernel-task-runner.js";
import type { KernelTask } from "../kernels/kernel-tasks.js";

export type KernelWorkerMessage =
  | { readonly kind: "prepare"; readonly memory: WebAssembly.Memory; readonly module: WebAssembly.Module; readonly control: SharedArrayBuffer }
  | { readonly kind: "task"; readonly task: KernelTask };

export type KernelWorkerReply = { readonly kind: "ready" } | { readonly kind: "error"; readonly message: string };

let runner: KernelTaskRunner | undefined;

function reply(message: KernelWorkerReply): void {
  postMessage(message);
}

addEventListener("message", (event) => {
  const message = (event as MessageEvent<KernelWorkerMessage>).data;
  if (message.kind === "task") {
    runner!.run(message.task);
    return;
  }
  try {
    runner = new KernelTaskRunner(message, message.control);
    reply({ kind: "ready" });
  } catch (e) {
    reply({ kind: "error", message: e instanceof Error ? e.message : String(e) });
  }
});
