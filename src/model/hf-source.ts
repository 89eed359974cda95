/**
 * A Hugging Face model directory as a ModelSource: config.json (Llama family), safetensors weights (single or
 * sharded) and the tokenizer files, with tensors under their HF names. ggufView() maps them to llama.cpp's.
 */
import { BitsmithError } from "../core/index.js";
import type { FileSystemLike, ModelSource } from "../core/index.js";
import { parseHfConfig } from "../formats/hf/config.js";
import { openSafetensorsCheckpoint } from "../formats/safetensors/index.js";

export async function openHfModel(fs: FileSystemLike, dir: string): Promise<ModelSource> {
  const configPath = fs.join(dir, "config.json");
  if (!(await fs.exists(configPath))) {
    throw new BitsmithError("not a Hugging Face model directory: config.json is missing", { file: dir });
  }
  const config = parseHfConfig(await fs.readText(configPath), configPath);
  const weights = await openSafetensorsCheckpoint(fs, dir);
  const rawName = config.raw._name_or_path;
  const name = typeof rawName === "string" && rawName !== "" ? rawName.split("/").pop()! : fs.basename(dir);
  return {
    format: "hf",
    name: dir,
    tensors: weights.tensors,
    metadata: new Map(Object.entries(config.raw)),
    info: {
      architecture: config.architecture,
      sourceArchitecture: config.modelType,
      name,
      hparams: config.hparams,
    },
    close: () => weights.close(),
  };
}
