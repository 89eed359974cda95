export * from "./errors.js";
export * from "./bytes.js";
export * from "./tensor-types.js";
export * from "./model.js";
export * from "./progress.js";
export * from "./random.js";
export * from "./memory-fs.js";
export * from "./json.js";
