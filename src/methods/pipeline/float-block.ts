/**
 * One transformer block's weights as mutable float32 arrays: what the sequential pipeline quantizes, scales
 * (AWQ) and runs. Read from a model in GGUF terms whatever the stored type; wrapped as engine weights for
 * forwards, with any linear's values replaced by candidates (quantized, AWQ-scaled).
 */
import type { LlamaHParams, ModelSource } from "../../core/index.js";
import { Float32LinearWeight, loadLinearWeight, loadLlamaBlockWeights } from "../../engine/index.js";
import type { LlamaBlockWeights } from "../../engine/index.js";

/** The linear layers of a block, in the order the block computes them. */
export const LINEAR_ROLES = ["q", "k", "v", "o", "gate", "up", "down"] as const;
export type LinearRole = (typeof LINEAR_ROLES)[number];

/** The activation each linear reads: q/k/v share the normed attention input, gate/up the normed MLP input. */
export type InputKey = "attn_in" | "attn_out" | "ffn_in" | "ffn_out";
export const INPUT_OF: Readonly<Record<LinearRole, InputKey>> = {
  q: "attn_in",
  k: "attn_in",
  v: "attn_in",
  o: "attn_out",
  gate: "ffn_in",
  up: "ffn_in",
  down: "ffn_out",
};

export interface FloatLinear {
  /** GGUF name, e.g. blk.0.attn_q.weight. */
  readonly name: string;
  readonly role: LinearRole;
  readonly rows: number;
  readonly cols: number;
  /** [rows × cols], row-major; changed in place by scaling, replaced by quantized values. */
  w: Float32Array;
}

export interface FloatBlock {
  readonly layer: number;
  attnNorm: Float32Array;
  ffnNorm: Float32Array;
  readonly qBias?: Float32Array;
  readonly kBias?: Float32Array;
  /** Replaced when AWQ scales v's rows. */
  vBias?: Float32Array;
  readonly linears: Readonly<Record<LinearRole, FloatLinear>>;
}

/** Reads block `layer` of `source` (GGUF view) as float32 copies. */
export async function readFloatBlock(source: ModelSource, hp: LlamaHParams, layer: number): Promise<FloatBlock> {
  const loaded = await loadLlamaBlockWeights(source, hp, layer, (name, rows, cols) => loadLinearWeight(source, name, rows, cols, { dequantize: true, ggmlActivations: false }));
  const linear = (role: LinearRole): FloatLinear => {
    const lw = loaded[role];
    const { data, offset } = lw.readRows(0, lw.rows, new Float32Array(0));
    return { name: lw.name, role, rows: lw.rows, cols: lw.cols, w: data.slice(offset, offset + lw.rows * lw.cols) };
  };
  return {
    layer,
    attnNorm: loaded.attnNorm.slice(),
    ffnNorm: loaded.ffnNorm.slice(),
    qBias: loaded.qBias,
    kBias: loaded.kBias,
    vBias: loaded.vBias,
    linears: Object.fromEntries(LINEAR_ROLES.map((r) => [r, linear(r)])) as Record<LinearRole, FloatLinear>,
  };
}

/** The block as engine weights; `replace` maps a linear's name to the values to use instead of its own. */
export function engineWeights(b: FloatBlock, replace?: ReadonlyMap<string, Float32Array>): LlamaBlockWeights {
  const lw = (role: LinearRole) => {
    const l = b.linears[role];
    return new Float32LinearWeight(l.name, l.rows, l.cols, replace?.get(l.name) ?? l.w);
  };
  return {
    attnNorm: b.attnNorm,
    q: lw("q"),
    k: lw("k"),
    v: lw("v"),
    o: lw("o"),
    qBias: b.qBias,
    kBias: b.kBias,
    vBias: b.vBias,
    ffnNorm: b.ffnNorm,
    gate: lw("gate"),
    up: lw("up"),
    down: lw("down"),
  };
}
