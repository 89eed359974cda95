/**
 * Tensor names and layouts of the Llama family (llama, mistral, qwen2) in Hugging Face and GGUF terms, as
 * llama.cpp's convert_hf_to_gguf.py maps them. One table serves both directions.
 */

/** Per-layer tensors: HF suffix after `model.layers.N.` and GGUF suffix after `blk.N.`. */
const LAYER_NAMES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ["input_layernorm.weight", "attn_norm.weight"],
  ["self_attn.q_proj.weight", "attn_q.weight"],
  ["self_attn.q_proj.bias", "attn_q.bias"],
  ["self_attn.k_proj.weight", "attn_k.weight"],
  ["self_attn.k_proj.bias", "attn_k.bias"],
  ["self_attn.v_proj.weight", "attn_v.weight"],
  ["self_attn.v_proj.bias", "attn_v.bias"],
  ["self_attn.o_proj.weight", "attn_output.weight"],
  ["post_attention_layernorm.weight", "ffn_norm.weight"],
  ["mlp.gate_proj.weight", "ffn_gate.weight"],
  ["mlp.up_proj.weight", "ffn_up.weight"],
  ["mlp.down_proj.weight", "ffn_down.weight"],
];

const GLOBAL_NAMES: ReadonlyArray<readonly [hf: string, gguf: string]> = [
  ["model.embed_tokens.weight", "token_embd.weight"],
  ["model.norm.weight", "output_norm.weight"],
  ["lm_head.weight", "output.weight"],
];

const hfToGgufGlobal = new Map(GLOBAL_NAMES);
const ggufToHfGlobal = new Map(GLOBAL_NAMES.map(([a, b]) => [b, a]));
const hfToGgufLayer = new Map(LAYER_NAMES);
const ggufToHfLayer = new Map(LAYER_NAMES.map(([a, b]) => [b, a]));

/** HF tensors that carry no weights llama.cpp needs (recomputed buffers). */
export function isIgnoredHfTensor(name: string): boolean {
  return name.endsWith(".rotary_emb.inv_freq");
}

export function hfToGgufName(name: string): string | undefined {
  const g = hfToGgufGlobal.get(name);
  if (g) return g;
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const suffix = hfToGgufLayer.get(m[2]!);
  return suffix ? `blk.${m[1]}.${suffix}` : undefined;
}

export function ggufToHfName(name: string): string | undefined {
  const g = ggufToHfGlobal.get(name);
  if (g) return g;
  const m = /^blk\.(\d+)\.(.+)$/.exec(name);
  if (!m) return undefined;
  const suffix = ggufToHfLayer.get(m[2]!);
  return suffix ? `model.layers.${m[1]}.${suffix}` : undefined;
}

/** Layer index of a GGUF or HF tensor name, or undefined for global tensors. */
export function layerIndex(name: string): number | undefined {
  const m = /^(?:blk|model\.layers)\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}

/**
 * Which Q/K projections need their rows reordered between the HF and GGUF layouts, and with how many heads.
 * HF Llama/Mistral checkpoints order each head's rows for "rotate half" RoPE; llama.cpp's llama architecture
 * rotates adjacent pairs, so its converter interleaves the two halves of every head. Qwen2 uses NeoX-style
 * RoPE in llama.cpp and is stored unpermuted.
 */
export function qkPermutationHeads(
  architecture: string,
  ggufName: string,
  numHeads: number,
  numKvHeads: number,
): number | undefined {
  if (architecture !== "llama") return undefined;
  if (/^blk\.\d+\.attn_q\.weight$/.test(ggufName)) return numHeads;
  if (/^blk\.\d+\.attn_k\.weight$/.test(ggufName)) return numKvHeads;
  return undefined;
}

/**
 * Reorders the rows of a [rows][rowBytes] matrix from HF order to GGUF order (`toGguf`) or back.
 * Within each head of `headRows` rows, HF row `i * headRows/2 + j` (i in {0,1}) is GGUF row `2j + i`.
 * Works on raw bytes, so any element type (including quantized rows) is moved without conversion.
 */
export function permuteQkRows(data: Uint8Array, rows: number, heads: number, toGguf: boolean): Uint8Array {
  if (rows % heads !== 0 || (rows / heads) % 2 !== 0) {
    throw new Error(`cannot permute ${rows} rows into ${heads} heads of even size`);
  }
  const rowBytes = data.length / rows;
  const headRows = rows / heads;
  const half = headRows / 2;
  const out = new Uint8Array(data.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const hfRow = h * headRows + i * half + j;
        const ggufRow = h * headRows + 2 * j + i;
        const [from, to] = toGguf ? [hfRow, ggufRow] : [ggufRow, hfRow];
        out.set(data.subarray(from * rowBytes, (from + 1) * rowBytes), to * rowBytes);
      }
    }
  }
  return out;
}
