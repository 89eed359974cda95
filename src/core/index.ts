export * from "./errors.js";
export * from "./bytes.js";
export * from "./tensor-types.js";
export * from "./model.js";
