/**
 * bitsmith's browser additions (the library API itself is the main entry): multi-threaded kernels over Web
 * Workers. These modules and the kernel modules they load import nothing but each other (no bare specifiers),
 * so a browser can load them as compiled from a static server, without a bundler or an import map.
 */
export { createBrowserKernels } from "./kernels.js";
export type { BrowserKernelOptions } from "./kernels.js";
export { WebWorkerKernelExecutor } from "./web-worker-executor.js";
export type { WebWorkerExecutorOptions } from "./web-worker-executor.js";
export { kernelThreadsUnavailable } from "./thread-support.js";
