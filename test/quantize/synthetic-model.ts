/**
 * Small Llama-architecture GGUFs with random weights and chosen shapes, for the cases the stories260K references
 * cannot show (rows of 256, experts, bad values). Weights are N(0, 0.02) from a fixed seed.
 */
import "../../src/codecs/index.js";
import { SeededRandom, tensorType } from "../../src/core/index.js";
import { requireCodec } from "../../src/codecs/index.js";
import { GgufWriter, gguf } from "../../src/formats/gguf/index.js";
import { nodeFileSystem } from "../../src/node/fs.js";

export interface SyntheticLlama {
  layers: number;
  hidden: number;
  ffn: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  /** MoE: experts per layer (ffn_*_exps tensors instead of ffn_*). */
  experts?: number;
  /** Type of the 2-D weights (norms are F32). */
  type?: "F32" | "F16";
  /** Put this value at [row, column] of this tensor. */
  poison?: { tensor: string; row: number; column: number; value: number };
}

export function syntheticTensorShapes(m: SyntheticLlama): [string, number[]][] {
  const kv = (m.hidden / m.heads) * m.kvHeads;
  const shapes: [string, number[]][] = [
    ["token_embd.weight", [m.vocab, m.hidden]],
    ["output_norm.weight", [m.hidden]],
    ["output.weight", [m.vocab, m.hidden]],
  ];
  for (let l = 0; l < m.layers; l++) {
    const b = `blk.${l}.`;
    shapes.push(
      [`${b}attn_norm.weight`, [m.hidden]],
      [`${b}attn_q.weight`, [m.hidden, m.hidden]],
      [`${b}attn_k.weight`, [kv, m.hidden]],
      [`${b}attn_v.weight`, [kv, m.hidden]],
      [`${b}attn_output.weight`, [m.hidden, m.hidden]],
      [`${b}ffn_norm.weight`, [m.hidden]],
    );
    if (m.experts) {
      shapes.push(
        [`${b}ffn_gate_inp.weight`, [m.experts, m.hidden]],
        [`${b}ffn_gate_exps.weight`, [m.experts, m.ffn, m.hidden]],
        [`${b}ffn_up_exps.weight`, [m.experts, m.ffn, m.hidden]],
        [`${b}ffn_down_exps.weight`, [m.experts, m.hidden, m.ffn]],
      );
    } else {
      shapes.push([`${b}ffn_gate.weight`, [m.ffn, m.hidden]], [`${b}ffn_up.weight`, [m.ffn, m.hidden]], [`${b}ffn_down.weight`, [m.hidden, m.ffn]]);
    }
  }
  return shapes;
}

export async function writeSyntheticLlama(file: string, m: SyntheticLlama, seed = 7): Promise<void> {
  const w = new GgufWriter();
  w.set("general.architecture", gguf.str("llama"));
  w.set("general.name", gguf.str("synthetic"));
  w.set("llama.context_length", gguf.u32(256));
  w.set("llama.embedding_length", gguf.u32(m.hidden));
  w.set("llama.feed_forward_length", gguf.u32(m.ffn));
  w.set("llama.block_count", gguf.u32(m.layers));
  w.set("llama.attention.head_count", gguf.u32(m.heads));
  w.set("llama.attention.head_count_kv", gguf.u32(m.kvHeads));
  w.set("llama.attention.layer_norm_rms_epsilon", gguf.f32(1e-5));
  if (m.experts) {
    w.set("llama.expert_count", gguf.u32(m.experts));
    w.set("llama.expert_used_count", gguf.u32(2));
  }
  const rng = new SeededRandom(seed);
  for (const [name, shape] of syntheticTensorShapes(m)) {
    const count = shape.reduce((a, b) => a * b, 1);
    const values = rng.fillNormal(new Float32Array(count), 0.02);
    if (m.poison?.tensor === name) values[m.poison.row * shape.at(-1)! + m.poison.column] = m.poison.value;
    const type = shape.length === 1 ? "F32" : (m.type ?? "F32");
    const bytes = requireCodec(type).quantize(values, 1, count);
    w.addTensor({ name, type: tensorType(type)!, shape, data: async () => bytes });
  }
  await w.write(await nodeFileSystem.create(file));
}
