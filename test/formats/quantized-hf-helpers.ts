/** Shared by the quantized Hugging Face layout tests: random linears, a tiny model config, writing and reopening. */
import { MemoryFileSystem, SeededRandom, tensorType } from "../../src/core/index.js";
import type { JsonObject, ModelSource } from "../../src/core/index.js";
import { openModel } from "../../src/model/open-model.js";
import { writeQuantizedHfModel } from "../../src/formats/quantized-hf/index.js";
import type { QuantizedLinear, QuantizedLinearSource, WriteQuantizedHfOptions } from "../../src/formats/quantized-hf/index.js";
import type { TensorToWrite } from "../../src/formats/safetensors/index.js";

export const DIR = "out";

/** A valid Llama config.json for openModel; the layout tests only need it to parse. */
export function tinyConfig(torchDtype = "float16"): JsonObject {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: 64,
    intermediate_size: 128,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 4,
    vocab_size: 16,
    rms_norm_eps: 1e-5,
    torch_dtype: torchDtype,
  };
}

export interface LinearParams {
  name?: string;
  out: number;
  in: number;
  bits: number;
  groupSize: number;
  symmetric: boolean;
  actOrder?: boolean;
  /** Smallest zero point drawn (GPTQ's "gptq" format cannot store 0). */
  minZero?: number;
}

/**
 * A random linear. Scales are (1 + k/128) * 2^-e: 8 significant bits, so exact in fp16, bf16 and fp32 alike.
 * An act-order g_idx is a random permutation cut into equal groups, as GPTQ's desc_act produces.
 */
export function randomLinear(rng: SeededRandom, p: LinearParams): QuantizedLinear {
  const shape = { name: p.name ?? "model.layers.0.mlp.down_proj", outFeatures: p.out, inFeatures: p.in, bits: p.bits, groupSize: p.groupSize, symmetric: p.symmetric };
  const size = p.groupSize === -1 ? p.in : p.groupSize;
  const groups = p.in / size;
  const codes = new Uint8Array(p.out * p.in).map(() => rng.int(1 << p.bits));
  const scales = new Float32Array(p.out * groups).map(() => (1 + rng.int(128) / 128) * 2 ** -(4 + rng.int(8)) * (rng.int(2) ? 1 : -1));
  const minZero = p.minZero ?? 0;
  const zeros = p.symmetric ? undefined : new Uint8Array(p.out * groups).map(() => minZero + rng.int((1 << p.bits) - minZero));
  let gIdx: Int32Array | undefined;
  if (p.actOrder) {
    const perm = Array.from({ length: p.in }, (_, i) => i);
    for (let i = perm.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [perm[i], perm[j]] = [perm[j]!, perm[i]!];
    }
    gIdx = new Int32Array(p.in);
    perm.forEach((col, k) => (gIdx![col] = Math.floor(k / size)));
  }
  return { ...shape, codes, scales, zeros, gIdx };
}

export function source(q: QuantizedLinear, onLoad?: () => void): QuantizedLinearSource {
  const { codes, scales, zeros, gIdx, ...shape } = q;
  return {
    ...shape,
    actOrder: gIdx !== undefined,
    async load() {
      onLoad?.();
      return { ...shape, codes, scales, zeros, gIdx };
    },
  };
}

export function plainTensor(name: string, dtype: string, shape: number[]): TensorToWrite {
  const type = tensorType(dtype)!;
  const bytes = new Uint8Array(shape.reduce((a, b) => a * b, 1) * type.typeSize).map((_, i) => i & 0x3f);
  return { name, type, shape, read: async () => bytes };
}

export type WriteOptions = Partial<Omit<WriteQuantizedHfOptions, "linears">>;

/** Writes `linears` (plus an embedding) into a fresh in-memory directory. */
export async function writeModel(linears: readonly QuantizedLinear[], options: WriteOptions & Pick<WriteQuantizedHfOptions, "layout">): Promise<MemoryFileSystem> {
  const fs = new MemoryFileSystem();
  await writeQuantizedHfModel(fs, DIR, {
    config: tinyConfig(),
    tensors: [plainTensor("model.embed_tokens.weight", "F16", [16, 64])],
    linears: linears.map((q) => source(q)),
    ...options,
  });
  return fs;
}

export async function openWritten(fs: MemoryFileSystem): Promise<ModelSource> {
  return openModel(fs, DIR);
}

export function readJson(fs: MemoryFileSystem, name: string): JsonObject {
  return JSON.parse(new TextDecoder().decode(fs.get(`${DIR}/${name}`)!)) as JsonObject;
}

/** A stored tensor's raw bytes, as int32 values. */
export async function int32Tensor(model: ModelSource, name: string): Promise<Int32Array> {
  const t = model.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`missing ${name}`);
  const b = await t.read();
  return new Int32Array(b.slice().buffer);
}

export function tensorShape(model: ModelSource, name: string): readonly number[] | undefined {
  return model.tensors.find((x) => x.name === name)?.shape;
}

export function tensorDtype(model: ModelSource, name: string): string | undefined {
  return model.tensors.find((x) => x.name === name)?.type.name;
}
