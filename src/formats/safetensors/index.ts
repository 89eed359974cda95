/** Hugging Face safetensors: single files and sharded checkpoints, read lazily and written as streams. */
export { readSafetensorsHeader, MAX_HEADER_BYTES } from "./header.js";
export type { SafetensorsHeader, SafetensorsTensorRef } from "./header.js";
export { openSafetensorsFile, openSafetensorsCheckpoint } from "./checkpoint.js";
export type { SafetensorsCheckpoint } from "./checkpoint.js";
export { writeSafetensors } from "./writer.js";
export type { TensorToWrite } from "./writer.js";
export { writeShardedSafetensors } from "./sharded-writer.js";
export type { ShardedWriteOptions } from "./sharded-writer.js";
export { parseShardSize } from "./shard-size.js";
export { INDEX_FILE_NAME, SINGLE_FILE_NAME, shardFileName } from "./index-file.js";
