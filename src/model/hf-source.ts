/**
 * A Hugging Face model directory as a ModelSource: config.json (Llama family), safetensors weights (single or
 * sharded) and the tokenizer files, with tensors under their HF names. ggufView() maps them to llama.cpp's.
 */
import { BitsmithError } from "../core/index.js";
import type { FileSystemLike, ModelSource } from "../core/index.js";
import { hfTokenizerInfo, parseHfConfig } from "../formats/hf/index.js";
import type { HfTokenizerFiles, TextFile } from "../formats/hf/index.js";
import { openSafetensorsCheckpoint } from "../formats/safetensors/index.js";

/** Reads the tokenizer files present in `dir`; absent ones stay undefined. */
async function tokenizerFiles(fs: FileSystemLike, dir: string): Promise<HfTokenizerFiles> {
  const text = async (name: string): Promise<TextFile | undefined> => {
    const path = fs.join(dir, name);
    return (await fs.exists(path)) ? { path, text: await fs.readText(path) } : undefined;
  };
  const modelPath = fs.join(dir, "tokenizer.model");
  let tokenizerModel: HfTokenizerFiles["tokenizerModel"];
  if (await fs.exists(modelPath)) {
    const src = await fs.open(modelPath);
    try {
      tokenizerModel = { path: modelPath, bytes: await src.read(0, src.size) };
    } finally {
      await src.close?.();
    }
  }
  return {
    config: await text("config.json"),
    tokenizerJson: await text("tokenizer.json"),
    tokenizerModel,
    tokenizerConfig: await text("tokenizer_config.json"),
    specialTokensMap: await text("special_tokens_map.json"),
    addedTokensJson: await text("added_tokens.json"),
    mergesTxt: await text("merges.txt"),
    chatTemplateJinja: await text("chat_template.jinja"),
    chatTemplateJson: await text("chat_template.json"),
  };
}

export async function openHfModel(fs: FileSystemLike, dir: string): Promise<ModelSource> {
  const configPath = fs.join(dir, "config.json");
  if (!(await fs.exists(configPath))) {
    throw new BitsmithError("not a Hugging Face model directory: config.json is missing", { file: dir });
  }
  const config = parseHfConfig(await fs.readText(configPath), configPath);
  const files = await tokenizerFiles(fs, dir);
  // A directory without tokenizer files is still a model (inspect, merge); commands that need one say so.
  const tokenizer = files.tokenizerJson || files.tokenizerModel ? await hfTokenizerInfo(files, { modelType: config.modelType }) : undefined;
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
      tokenizer,
    },
    close: () => weights.close(),
  };
}
