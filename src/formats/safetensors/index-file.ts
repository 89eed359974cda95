/**
 * Hugging Face's sharded-checkpoint conventions: the file names, and the `model.safetensors.index.json` that maps
 * every tensor to its shard: `{"metadata": {"total_size": <bytes of tensor data>}, "weight_map": {name: file}}`
 * (huggingface_hub, serialization/_base.py: `split_state_dict_into_shards_factory` and its FILENAME_PATTERN).
 */
import { BitsmithError, isJsonObject } from "../../core/index.js";

export const SINGLE_FILE_NAME = "model.safetensors";
export const INDEX_FILE_NAME = "model.safetensors.index.json";

/** `model-00001-of-00003.safetensors` for index 0 of 3. */
export function shardFileName(index: number, count: number): string {
  const five = (n: number) => String(n).padStart(5, "0");
  return `model-${five(index + 1)}-of-${five(count)}.safetensors`;
}

/** Shard names are resolved beside the index, so anything that could leave that directory is refused. */
function isPlainFileName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !/[/\\]/.test(name);
}

/**
 * The weight map (tensor name to shard file name, in the index's order). metadata.total_size is not needed to read:
 * every size comes from the shard headers.
 */
export function parseSafetensorsIndex(text: string, file: string): Map<string, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BitsmithError(`not valid JSON: ${(e as Error).message}`, { file });
  }
  if (!isJsonObject(json)) throw new BitsmithError("index JSON is not an object", { file });
  if (!isJsonObject(json.weight_map)) throw new BitsmithError("missing or not an object", { file, field: "weight_map" });
  const weightMap = new Map<string, string>();
  for (const [name, shard] of Object.entries(json.weight_map)) {
    const field = `weight_map[${JSON.stringify(name)}]`;
    if (typeof shard !== "string" || !isPlainFileName(shard)) {
      throw new BitsmithError(`${JSON.stringify(shard)} is not a file name in the index's directory`, { file, field });
    }
    weightMap.set(name, shard);
  }
  return weightMap;
}

/** The index file's text, with the weight map in the given order and 2-space indentation as Hugging Face writes it. */
export function encodeSafetensorsIndex(weightMap: ReadonlyMap<string, string>, totalSize: number): string {
  const entries = Array.from(weightMap, ([name, shard]) => `    ${JSON.stringify(name)}: ${JSON.stringify(shard)}`);
  return `{\n  "metadata": {\n    "total_size": ${totalSize}\n  },\n  "weight_map": {\n${entries.join(",\n")}\n  }\n}\n`;
}
