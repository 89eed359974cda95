/** Node-only parts of bitsmith: files on disk (atomic writes) and the stderr progress bar. */
export { FileByteSource, AtomicFileSink, nodeFileSystem } from "./fs.js";
export { StderrProgressBar } from "./progress-bar.js";
