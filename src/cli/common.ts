/** Pieces every command shares: opening models from paths, progress output, JSON printing. */
import "../codecs/index.js";
import type { ModelSource, Progress } from "../core/index.js";
import { silentProgress } from "../core/index.js";
import { openModel } from "../model/open-model.js";
import { nodeFileSystem } from "../node/fs.js";
import { StderrProgressBar } from "../node/progress-bar.js";

export { formatBytes } from "../node/progress-bar.js";

export interface OutputOptions {
  quiet?: boolean;
  json?: boolean;
}

export function progressFor(opts: OutputOptions): Progress {
  return opts.quiet || opts.json ? silentProgress : new StderrProgressBar();
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
}

export function openModelArg(path: string, tokenizer?: string): Promise<ModelSource> {
  return openModel(nodeFileSystem, path, { tokenizer });
}

/** Runs `fn` with the model open and closes it afterwards, whatever happens. */
export async function withModel<T>(path: string, tokenizer: string | undefined, fn: (m: ModelSource) => Promise<T>): Promise<T> {
  const model = await openModelArg(path, tokenizer);
  try {
    return await fn(model);
  } finally {
    await model.close();
  }
}
