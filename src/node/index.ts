/** Node-only parts of bitsmith: files on disk (atomic writes), the stderr progress bar, worker-thread quantization. */
export { FileByteSource, AtomicFileSink, nodeFileSystem } from "./fs.js";
export { StderrProgressBar } from "./progress-bar.js";
export { WorkerRowQuantizer } from "./worker-row-quantizer.js";
