/**
 * Opens whatever the user points at as a ModelSource: a GGUF file (split or not), a Hugging Face directory,
 * a single .safetensors file, a llama2.c checkpoint, or "@demo". Formats are recognised by their bytes, not
 * their names, so a misnamed file still opens and a PyTorch pickle gets a clear refusal.
 */
import { BitsmithError } from "../core/index.js";
import type { FileSystemLike, ModelSource } from "../core/index.js";
import { openGgufModel } from "../formats/gguf/index.js";
import { openSafetensorsFile } from "../formats/safetensors/index.js";
import { openLlama2c } from "../formats/llama2c/index.js";
import { openHfModel } from "./hf-source.js";
import { openDemoModel, DEMO_MODEL_ARG } from "../demo/demo-source.js";

export interface OpenModelOptions {
  /** llama2.c tokenizer file; default: the one tok*.bin beside the checkpoint, if exactly one exists. */
  tokenizer?: string;
}

type Sniffed = "gguf" | "safetensors" | "pytorch-zip" | "unknown";

async function sniff(fs: FileSystemLike, path: string): Promise<Sniffed> {
  const src = await fs.open(path);
  try {
    const head = await src.read(0, Math.min(9, src.size));
    if (head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === "GGUF") return "gguf";
    if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 3 && head[3] === 4) return "pytorch-zip";
    if (head.length === 9 && head[8] === 0x7b /* '{' */ && head[6] === 0 && head[7] === 0) return "safetensors";
    return "unknown";
  } finally {
    await src.close?.();
  }
}

async function llama2cTokenizerPath(fs: FileSystemLike, path: string, explicit?: string): Promise<string | undefined> {
  if (explicit) return explicit;
  const dir = fs.dirname(path);
  const candidates = (await fs.list(dir)).filter((n) => /^tok.*\.bin$/.test(n));
  return candidates.length === 1 ? fs.join(dir, candidates[0]!) : undefined;
}

export async function openModel(fs: FileSystemLike, path: string, options: OpenModelOptions = {}): Promise<ModelSource> {
  if (path === DEMO_MODEL_ARG) return openDemoModel();
  if (!(await fs.exists(path))) throw new BitsmithError("no such file or directory", { file: path });
  if (await fs.isDirectory(path)) return openHfModel(fs, path);
  const kind = await sniff(fs, path);
  switch (kind) {
    case "gguf":
      return openGgufModel(fs, path);
    case "safetensors": {
      const ck = await openSafetensorsFile(fs, path);
      // A lone .safetensors file: open its directory as a HF model when config.json is beside it.
      const dir = fs.dirname(path);
      if (await fs.exists(fs.join(dir, "config.json"))) {
        await ck.close();
        return openHfModel(fs, dir);
      }
      return {
        format: "safetensors",
        name: path,
        tensors: ck.tensors,
        metadata: ck.metadata,
        info: { architecture: "unknown" },
        close: () => ck.close(),
      };
    }
    case "pytorch-zip":
      throw new BitsmithError("PyTorch pickle checkpoints are not supported (they can run code when loaded); use the model's safetensors files", { file: path });
    default: {
      const tokPath = await llama2cTokenizerPath(fs, path, options.tokenizer);
      const model = await fs.open(path);
      try {
        return await openLlama2c(model, tokPath ? await fs.open(tokPath) : undefined);
      } catch (e) {
        await model.close?.();
        if (e instanceof BitsmithError) {
          throw new BitsmithError(`not a GGUF, safetensors or llama2.c file (${e.message})`, { file: path });
        }
        throw e;
      }
    }
  }
}
