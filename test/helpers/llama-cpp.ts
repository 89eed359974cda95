/**
 * llama.cpp itself (through node-llama-cpp, its Node binding, CPU build from npm) as the judge of the GGUF
 * files bitsmith writes: load a file and generate greedily.
 */
import { getLlama } from "node-llama-cpp";
import type { Llama } from "node-llama-cpp";

let llamaPromise: Promise<Llama> | undefined;

function llama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  return llamaPromise;
}

/** llama.cpp's token ids for `text`, with BOS as the model's vocabulary asks. */
export async function llamaCppTokenize(modelPath: string, text: string): Promise<number[]> {
  const model = await (await llama()).loadModel({ modelPath });
  try {
    const ids = [...model.tokenize(text)];
    return model.tokens.bos !== null && model.tokens.shouldPrependBosToken ? [model.tokens.bos, ...ids] : ids;
  } finally {
    await model.dispose();
  }
}

/** Loads `modelPath` and returns the first `count` greedily generated token ids after `prompt`. */
export async function greedyTokens(modelPath: string, prompt: string, count: number): Promise<number[]> {
  const l = await llama();
  const model = await l.loadModel({ modelPath });
  try {
    const ctx = await model.createContext({ contextSize: 128, threads: 1 });
    try {
      const seq = ctx.getSequence();
      const out: number[] = [];
      for await (const t of seq.evaluate(model.tokenize(prompt, true), { temperature: 0 })) {
        out.push(t);
        if (out.length >= count) break;
      }
      return out;
    } finally {
      await ctx.dispose();
    }
  } finally {
    await model.dispose();
  }
}
