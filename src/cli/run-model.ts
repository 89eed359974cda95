/** Opening a model to run it (eval, generate): the engine over its weights and its tokenizer. */
import { BitsmithError } from "../core/index.js";
import type { ModelSource } from "../core/index.js";
import { LlamaEngine } from "../engine/index.js";
import type { EngineOptions } from "../engine/index.js";
import { createModelTokenizer } from "../tokenizer/index.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { openModelArg } from "./common.js";

export interface RunnableModel {
  source: ModelSource;
  engine: LlamaEngine;
  tokenizer: Tokenizer;
}

/** Opens `path`, checks it has a vocabulary and loads its weights; the caller closes `source`. */
export async function openRunnableModel(path: string, tokenizerFile: string | undefined, options: EngineOptions): Promise<RunnableModel> {
  const source = await openModelArg(path, tokenizerFile);
  try {
    if (!source.info.tokenizer) throw new BitsmithError("the model has no tokenizer (vocabulary), so text cannot be turned into tokens", { file: path });
    const tokenizer = createModelTokenizer(source.info, source.name);
    const engine = await LlamaEngine.create(source, options);
    return { source, engine, tokenizer };
  } catch (e) {
    await source.close();
    throw e;
  }
}
