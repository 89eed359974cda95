/**
 * llama-quantize's per-tensor type choice (llama.cpp src/llama-quant.cpp: tensor_allows_quantization,
 * llama_tensor_get_type, its recipe llama_tensor_get_type_impl and tensor_type_fallback), reproduced rule for
 * rule so that bitsmith picks the same type for every tensor. The result is data: one row per tensor with the
 * type it comes from, the type it becomes and why.
 *
 * Tensors must be given in the order llama-quantize visits them (see tensor-order.ts): the attn_v and ffn_down
 * rules count the tensors seen so far.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import type { TensorTypeInfo } from "../core/index.js";
import { getCodec, listCodecs } from "../codecs/index.js";
import type { QuantizeFileType } from "./ftype.js";
import { parseBlockNumber } from "./tensor-order.js";

/** What the recipe needs to know about the model (llama.cpp's hparams and model type). */
export interface RecipeModel {
  /** GGUF architecture name: "llama", "qwen2", "falcon", ... */
  readonly architecture: string;
  /** Number of blocks (n_layer). */
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  /** Experts per MoE layer; 0 for dense models. */
  readonly numExperts: number;
}

/** `--tensor-type REGEX=TYPE`: tensors whose name the regular expression matches (anywhere) get TYPE. */
export interface TensorTypeOverride {
  readonly pattern: string;
  readonly type: TensorTypeInfo;
}

export interface RecipeOptions {
  readonly fileType: QuantizeFileType;
  /** --pure: every quantizable tensor gets the file type's default type (fallbacks still apply). */
  readonly pure?: boolean;
  /** --leave-output-tensor: output.weight is copied as it is. */
  readonly leaveOutputTensor?: boolean;
  readonly outputTensorType?: TensorTypeInfo;
  readonly tokenEmbeddingType?: TensorTypeInfo;
  /** Applied in order; the first pattern that matches a tensor wins. */
  readonly tensorTypes?: readonly TensorTypeOverride[];
  /** An importance matrix is given (some rules change with it). */
  readonly hasImatrix?: boolean;
}

export interface RecipeTensor {
  readonly name: string;
  /** The tensor's type in the input. */
  readonly type: TensorTypeInfo;
  /** Outermost first; the last dimension is the row (GGUF ne[0]). */
  readonly shape: readonly number[];
}

export interface PlannedTensor {
  readonly name: string;
  readonly shape: readonly number[];
  readonly from: TensorTypeInfo;
  readonly to: TensorTypeInfo;
  /** Why this type: the rule, override or fallback that decided it. */
  readonly reason: string;
  /** llama.cpp refuses to produce this tensor without importance data (tensor_requires_imatrix). */
  readonly requiresImatrix: boolean;
  /** Set when the type the rules wanted did not fit the row length and llama.cpp's fallback (`to`) was used. */
  readonly wanted?: TensorTypeInfo;
}

const T = (name: string): TensorTypeInfo => tensorType(name)!;
const F16 = T("F16");
const Q8_0 = T("Q8_0");

type Category =
  | "token_embd"
  | "attn_q"
  | "attn_v"
  | "attn_k"
  | "attn_qkv"
  | "attn_kv_b"
  | "attn_output"
  | "ffn_up"
  | "ffn_gate"
  | "ffn_down"
  | "output"
  | "other";

/** llama.cpp's tensor_get_category: broad roles by name, checked in this order. */
function categoryOf(name: string): Category {
  if (name === "output.weight") return "output";
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight") return "token_embd";
  const containing: [string, Category][] = [
    ["attn_qkv.weight", "attn_qkv"],
    ["attn_kv_b.weight", "attn_kv_b"],
    ["attn_v.weight", "attn_v"],
    ["attn_k.weight", "attn_k"],
    ["attn_q.weight", "attn_q"],
    ["attn_output.weight", "attn_output"],
    ["ffn_up", "ffn_up"],
    ["ffn_gate", "ffn_gate"],
    ["ffn_down", "ffn_down"],
  ];
  for (const [part, category] of containing) if (name.includes(part)) return category;
  return "other";
}

/** attn_v and the tensors that play its part (fused qkv, MLA's kv_b) get attn_v's extra bits. */
const isAttnVLike = (c: Category) => c === "attn_v" || c === "attn_qkv" || c === "attn_kv_b";

/** Number of dimensions as ggml counts them: trailing size-1 dimensions do not count. */
function ggmlDims(shape: readonly number[]): number {
  let n = shape.length;
  while (n > 1 && shape[shape.length - n] === 1) n--;
  return Math.max(1, n);
}

/** Name parts llama.cpp never quantizes (small, routing or positional tensors of various architectures). */
const NEVER_QUANTIZED_PARTS = [
  "_norm.weight",
  "ffn_gate_inp.weight",
  "ffn_gate_tid2eid.weight",
  "altup",
  "laurel",
  "per_layer_model_proj",
  "ssm_conv1d",
  "shortconv.conv.weight",
  "indexer.k_proj.weight",
  "indexer.q_proj.weight",
  "time_mix_first.weight",
  "time_mix_w0.weight",
  "time_mix_w1.weight",
  "time_mix_w2.weight",
  "time_mix_v0.weight",
  "time_mix_v1.weight",
  "time_mix_v2.weight",
  "time_mix_a0.weight",
  "time_mix_a1.weight",
  "time_mix_a2.weight",
  "time_mix_g1.weight",
  "time_mix_g2.weight",
  "time_mix_decay_w1.weight",
  "time_mix_decay_w2.weight",
  "time_mix_lerp_fused.weight",
  "attn_rel_b.weight",
  ".position_embd",
  "sam.pos_embd",
  "sam.neck.",
  "sam.net_",
  ".rel_pos",
  ".patch_embd",
  ".patch_merger",
  "a.rvq.codebook",
  "mm.a.code_embd",
];

/** Why llama.cpp copies a tensor unchanged (tensor_allows_quantization), or undefined when it may be quantized. */
function keptBecause(t: RecipeTensor, options: RecipeOptions): string | undefined {
  if (options.fileType.onlyCopy) return "COPY: tensors are copied";
  if (ggmlDims(t.shape) < 2) return "1-D tensors are not quantized";
  if (!t.name.endsWith("weight")) return "only weights are quantized";
  if (options.leaveOutputTensor && t.name === "output.weight") return "--leave-output-tensor";
  // Positional embeddings and token types (BERT) are named so in every architecture that has them.
  if (t.name === "position_embd.weight" || t.name === "token_types.weight") return "positional and token-type embeddings are not quantized";
  const part = NEVER_QUANTIZED_PARTS.find((p) => t.name.includes(p));
  return part === undefined ? undefined : `llama.cpp never quantizes "${part}" tensors`;
}

/** llama.cpp's tensor_requires_imatrix. */
function requiresImatrix(name: string, to: TensorTypeInfo, fileType: QuantizeFileType): boolean {
  if (name === "token_embd.weight" || name === "per_layer_token_embd.weight" || name === "output.weight") return false;
  if (["IQ3_XXS", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_M", "IQ1_S"].includes(to.name)) return true;
  return to.name === "Q2_K" && fileType.recipe === "Q2_K_S";
}

/** tensor_type_fallback's table: where each type goes when a row is not a whole number of its blocks. */
const FALLBACK: Readonly<Record<string, string>> = {
  IQ1_S: "IQ4_NL",
  IQ1_M: "IQ4_NL",
  IQ2_XXS: "IQ4_NL",
  IQ2_XS: "IQ4_NL",
  IQ2_S: "IQ4_NL",
  IQ3_XXS: "IQ4_NL",
  IQ3_S: "IQ4_NL",
  IQ4_XS: "IQ4_NL",
  Q2_0: "Q4_0",
  Q2_K: "Q4_0",
  Q3_K: "Q4_0",
  TQ1_0: "Q4_0",
  TQ2_0: "Q4_0",
  Q4_K: "Q5_0",
  Q5_K: "Q5_1",
  Q6_K: "Q8_0",
};

/** State llama.cpp's quantize_state_impl carries from tensor to tensor. */
interface RecipeState {
  readonly model: RecipeModel;
  readonly options: RecipeOptions;
  readonly nAttentionWv: number;
  readonly hasTiedEmbeddings: boolean;
  iAttentionWv: number;
  iFfnDown: number;
  iFfnGate: number;
  iFfnUp: number;
}

/** llama.cpp's use_more_bits: the first and last eighth of the layers and every third one between. */
function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.trunc(n / 8);
  return i < eighth || i >= Math.trunc((7 * n) / 8) || (i - eighth) % 3 === 2;
}

/**
 * llama_tensor_get_type_impl: the file type's mixture rule for one tensor. Returns the type and a short note
 * on the rule, or undefined when the default stands.
 */
function mixtureType(st: RecipeState, t: RecipeTensor, category: Category, start: TensorTypeInfo): [TensorTypeInfo, string | undefined] {
  const { model, options } = st;
  const f = options.fileType.recipe;
  const is = (...names: string[]) => names.includes(f);
  const falcon = model.architecture === "falcon";
  const gqa = model.numKvHeads > 0 ? Math.trunc(model.numHeads / model.numKvHeads) : 0;
  const nExpert = model.numExperts;
  const hasImatrix = options.hasImatrix ?? false;
  const eighth = (n: number) => Math.trunc(n / 8);
  /** Layer index for the per-layer rules: the running counter, or the block number for MoE models (experts interleave). */
  const layerOf = (counter: number): number => {
    if (Math.max(1, nExpert) <= 1) return counter;
    const layer = parseBlockNumber(t.name);
    if (layer === undefined) throw new BitsmithError("cannot tell the layer of this tensor", { field: `tensor "${t.name}"` });
    if (layer < 0 || layer >= model.numLayers) throw new BitsmithError(`layer ${layer} is outside [0, ${model.numLayers})`, { field: `tensor "${t.name}"` });
    return layer;
  };
  let type = start;
  let why: string | undefined;
  const set = (name: string, note: string) => {
    type = T(name);
    why = note;
  };

  if (category === "output" || (st.hasTiedEmbeddings && category === "token_embd")) {
    const role = category === "output" ? "output" : "tied token embedding";
    if (options.outputTensorType) {
      type = options.outputTensorType;
      why = "--output-tensor-type";
    } else if (f === "MXFP4_MOE") set("Q8_0", `${role}: Q8_0 in MXFP4_MOE`);
    else if (falcon || t.shape.at(-1)! % start.blockSize !== 0) set("Q8_0", `${role}: Q8_0 (rows not a multiple of ${start.name}'s block)`);
    else if (is("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")) set("Q5_K", `${role}: Q5_K in ${f}`);
    else if (start !== Q8_0) set("Q6_K", `${role}: Q6_K`);
  } else if (f === "MXFP4_MOE") {
    // Expert tensors are 3-D; BailingMoE3's MLA projections are too, so it names the expert roles.
    const experts = t.shape.length >= 3 && t.shape[t.shape.length - 3]! > 1;
    const bailingExpert = category === "ffn_up" || category === "ffn_gate" || category === "ffn_down";
    if (experts && (model.architecture !== "bailingmoe3" || bailingExpert)) set("MXFP4", "MoE expert tensor");
    else set("Q8_0", "not an expert tensor: Q8_0");
  } else if (category === "token_embd") {
    if (is("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M")) set("Q2_K", `token embedding: Q2_K in ${f}`);
    else if (is("IQ2_S", "IQ2_M", "IQ3_XXS")) set("IQ3_S", `token embedding: IQ3_S in ${f}`);
    else if (is("TQ1_0", "TQ2_0", "Q2_0")) set("Q4_K", `token embedding: Q4_K in ${f}`);
  } else if (is("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")) {
    const iq2sm = is("IQ2_S", "IQ2_M");
    if (isAttnVLike(category)) {
      if (gqa >= 4 || nExpert >= 4) set("Q4_K", "attn_v with grouped-query attention or experts");
      else set(iq2sm ? "IQ3_S" : "Q2_K", "attn_v");
      st.iAttentionWv++;
    } else if (nExpert === 8 && category === "attn_k") {
      set("Q4_K", "attn_k of an 8-expert model");
    } else if (category === "ffn_down") {
      if (st.iFfnDown < eighth(model.numLayers)) set(iq2sm ? "IQ3_S" : "Q2_K", `ffn_down in the first eighth of the layers (${st.iFfnDown})`);
      st.iFfnDown++;
    } else if (category === "attn_output") {
      if (nExpert === 8) set("Q5_K", "attn_output of an 8-expert model");
      else if (is("IQ1_S", "IQ1_M")) set("IQ2_XXS", "attn_output");
      else if (iq2sm) set("IQ3_S", "attn_output");
    }
  } else if (isAttnVLike(category)) {
    const i = st.iAttentionWv;
    if (f === "Q2_K") set(gqa >= 4 ? "Q4_K" : "Q3_K", "attn_v");
    else if (f === "Q2_K_S" && gqa >= 4) set("Q4_K", "attn_v with grouped-query attention");
    else if (f === "IQ3_XXS") set(gqa >= 4 ? "Q4_K" : !hasImatrix ? "IQ3_S" : "IQ3_XXS", "attn_v");
    else if (is("IQ3_XS", "IQ3_S") && gqa >= 4) set("Q4_K", "attn_v with grouped-query attention");
    else if (f === "IQ3_M") set("Q4_K", "attn_v");
    else if (f === "Q3_K_M") set(i < 2 ? "Q5_K" : "Q4_K", `attn_v ${i}`);
    else if (f === "Q3_K_L") set("Q5_K", "attn_v");
    else if (is("IQ4_NL", "IQ4_XS") && gqa >= 4) set("Q5_K", "attn_v with grouped-query attention");
    else if (is("Q4_K_M", "Q5_K_M") && useMoreBits(i, st.nAttentionWv)) set("Q6_K", `attn_v ${i} of ${st.nAttentionWv} (use_more_bits)`);
    else if (f === "Q4_K_S" && i < 4) set("Q5_K", `attn_v ${i} (first four)`);
    if (isLlama70B(model) && (type.name === "Q3_K" || type.name === "Q4_K")) set("Q5_K", "attn_v of a 70B Llama");
    if (nExpert === 8) set("Q8_0", "attn_v of an 8-expert model");
    st.iAttentionWv++;
  } else if (category === "attn_k") {
    if (nExpert === 8) set("Q8_0", "attn_k of an 8-expert model");
    else if (f === "IQ3_XS") set("IQ3_XXS", "attn_k");
    else if (f === "IQ3_XXS") set("IQ2_S", "attn_k");
  } else if (category === "attn_q") {
    if (f === "IQ3_XS") set("IQ3_XXS", "attn_q");
    else if (f === "IQ3_XXS") set("IQ2_S", "attn_q");
  } else if (category === "ffn_down") {
    const i = layerOf(st.iFfnDown);
    const n = model.numLayers;
    const note = `ffn_down layer ${i} of ${n}`;
    if (f === "Q2_K") set("Q3_K", "ffn_down");
    else if (f === "Q2_K_S") {
      if (i < eighth(n)) set("Q4_K", `${note} (first eighth)`);
    } else if (f === "IQ3_XXS" && !hasImatrix) set(i < eighth(n) ? "Q4_K" : "Q3_K", `${note} without imatrix`);
    else if (f === "Q3_K_M") set(i < Math.trunc(n / 16) ? "Q5_K" : !falcon || useMoreBits(i, n) ? "Q4_K" : "Q3_K", note);
    else if (f === "IQ3_M" && (i < eighth(n) || (nExpert === 8 && useMoreBits(i, n)))) set("Q4_K", note);
    else if (f === "Q3_K_L") set(falcon ? "Q4_K" : "Q5_K", "ffn_down");
    else if (f === "Q4_K_M") {
      if (falcon) set(i < Math.trunc(n / 16) ? "Q6_K" : useMoreBits(i, n) ? "Q5_K" : "Q4_K", note);
      else if (useMoreBits(i, n)) set("Q6_K", `${note} (use_more_bits)`);
    } else if (i < eighth(n) && is("IQ4_NL", "IQ4_XS") && !hasImatrix) set("Q5_K", `${note} (first eighth, no imatrix)`);
    else if (f === "Q5_K_M" && useMoreBits(i, n)) set("Q6_K", `${note} (use_more_bits)`);
    else if (f === "Q4_K_S" && !falcon && i < eighth(n)) set("Q5_K", `${note} (first eighth)`);
    else if (is("Q4_0", "Q5_0") && hasImatrix && i < eighth(n)) set(f === "Q4_0" ? "Q4_1" : "Q5_1", `${note} (first eighth, with imatrix)`);
    st.iFfnDown++;
  } else if (category === "attn_output") {
    if (!falcon) {
      if (nExpert === 8) {
        if (is("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M", "IQ4_XS")) {
          set("Q5_K", "attn_output of an 8-expert model");
        }
      } else if (f === "Q2_K") set("Q3_K", "attn_output");
      else if (f === "IQ3_XXS") set("IQ3_S", "attn_output");
      else if (f === "Q3_K_M") set("Q4_K", "attn_output");
      else if (f === "Q3_K_L") set("Q5_K", "attn_output");
      else if (f === "IQ3_M") set("Q4_K", "attn_output");
    } else if (f === "Q3_K_L") set("Q4_K", "attn_output");
  } else if (category === "ffn_gate" || category === "ffn_up") {
    // (llama.cpp also has an attn_qkv rule here; it never applies, qkv being handled as attn_v above.)
    const counter = category === "ffn_gate" ? st.iFfnGate : st.iFfnUp;
    const i = layerOf(counter);
    const n = model.numLayers;
    if (f === "IQ3_XS" && i >= eighth(n) && i < Math.trunc((7 * n) / 8)) set("IQ3_XXS", `${category} layer ${i} of ${n} (middle layers)`);
    if (category === "ffn_gate") st.iFfnGate++;
    else st.iFfnUp++;
  }
  return [type, why];
}

/** llama.cpp's LLM_TYPE_70B: an 80-layer Llama with grouped-query attention. */
function isLlama70B(model: RecipeModel): boolean {
  return model.architecture === "llama" && model.numLayers === 80 && model.numHeads !== model.numKvHeads;
}

/**
 * tensor_type_fallback: the type that fits a row length that is not a multiple of `want`'s block size, F16 when
 * even the fallback does not fit; llama.cpp aborts for types without a fallback (the legacy types, Q8_0, ...).
 */
function fitRowLength(name: string, rowLength: number, want: TensorTypeInfo): { type: TensorTypeInfo; note?: string } {
  if (rowLength % want.blockSize === 0) return { type: want };
  const field = `tensor "${name}"`;
  const fallback = FALLBACK[want.name];
  if (fallback === undefined) {
    throw new BitsmithError(
      `${rowLength} columns are not a multiple of ${want.name}'s block size ${want.blockSize}, and llama.cpp defines no fallback type for ${want.name} ` +
        `(llama-quantize fails the same way; choose a type for this tensor with --tensor-type, e.g. F16)`,
      { field },
    );
  }
  const type = rowLength % T(fallback).blockSize === 0 ? T(fallback) : F16;
  const unusual = type === F16 ? ", must use F16 due to unusual shape" : "";
  return { type, note: `fallback: ${rowLength} columns not divisible by ${want.blockSize} (${want.name})${unusual} -> ${type.name}` };
}

/**
 * Plans every tensor: `tensors` in llama-quantize's processing order. Throws (naming the tensor) where
 * llama.cpp aborts: a type with no fallback for the row length, an override type that does not fit or that
 * bitsmith has no codec for.
 */
export function planQuantization(tensors: readonly RecipeTensor[], model: RecipeModel, options: RecipeOptions): PlannedTensor[] {
  const categories = tensors.map((t) => categoryOf(t.name));
  const st: RecipeState = {
    model,
    options,
    nAttentionWv: categories.filter(isAttnVLike).length,
    hasTiedEmbeddings: !categories.includes("output"),
    iAttentionWv: 0,
    iFfnDown: 0,
    iFfnGate: 0,
    iFfnUp: 0,
  };
  const patterns = (options.tensorTypes ?? []).map((o) => ({ ...o, regex: compilePattern(o.pattern) }));
  const defaultType = options.fileType.defaultType;

  return tensors.map((t, i) => {
    const category = categories[i]!;
    const rowLength = t.shape.at(-1) ?? 1;
    const plan = (to: TensorTypeInfo, reason: string, wanted?: TensorTypeInfo): PlannedTensor => {
      if (to !== t.type && !getCodec(to.name)) throw new BitsmithError(`bitsmith has no ${to.name} encoder`, { field: `tensor "${t.name}"` });
      return { name: t.name, shape: t.shape, from: t.type, to, reason, requiresImatrix: requiresImatrix(t.name, to, options.fileType), wanted };
    };
    const explicit = (to: TensorTypeInfo, flag: string) => {
      if (rowLength % to.blockSize !== 0) {
        throw new BitsmithError(`${flag} ${to.name} does not fit: ${rowLength} columns are not a multiple of its block size ${to.blockSize}`, {
          field: `tensor "${t.name}"`,
        });
      }
      return plan(to, flag);
    };

    const kept = keptBecause(t, options);
    if (kept !== undefined) return plan(t.type, kept);
    if (options.tokenEmbeddingType && category === "token_embd") return explicit(options.tokenEmbeddingType, "--token-embedding-type");
    if (options.outputTensorType && category === "output") return explicit(options.outputTensorType, "--output-tensor-type");

    let type = defaultType;
    let reason = `${options.fileType.recipe} default`;
    if (defaultType.quantized) {
      const override = patterns.find((p) => p.regex.test(t.name));
      if (override) {
        type = override.type;
        reason = `--tensor-type ${override.pattern}=${override.type.name}`;
      } else if (options.pure) {
        reason = "--pure";
      } else {
        const [mixed, why] = mixtureType(st, t, category, defaultType);
        type = mixed;
        if (why !== undefined) reason = `${options.fileType.recipe}: ${why}`;
      }
      const fit = fitRowLength(t.name, rowLength, type);
      if (fit.note) return plan(fit.type, `${reason}; ${fit.note}`, type);
    }
    return plan(type, reason);
  });
}

function compilePattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern);
  } catch (e) {
    throw new BitsmithError(`"${pattern}" is not a valid regular expression: ${(e as Error).message}`, { field: "--tensor-type" });
  }
}

/**
 * Parses `--tensor-type` values as llama-quantize does: `NAME=TYPE`, NAME lower-cased and used as a regular
 * expression, TYPE any ggml type name in any case.
 */
export function parseTensorTypeOverride(text: string): TensorTypeOverride {
  const eq = text.indexOf("=");
  const field = "--tensor-type";
  if (eq < 0) throw new BitsmithError(`"${text}" is not NAME=TYPE`, { field });
  if (eq === 0) throw new BitsmithError(`"${text}": missing tensor name`, { field });
  if (eq === text.length - 1) throw new BitsmithError(`"${text}": missing type`, { field });
  return { pattern: text.slice(0, eq).toLowerCase(), type: parseGgmlType(text.slice(eq + 1), field) };
}

/** A ggml tensor type by name, any case ("q8_0", "F16", "q4_K"); unknown names get an error listing the valid ones. */
export function parseGgmlType(text: string, field: string): TensorTypeInfo {
  const t = tensorType(text);
  if (t && t.ggmlId !== undefined) return t;
  const valid = listEncodableTypes().join(", ");
  throw new BitsmithError(`unknown tensor type "${text}"; valid: ${valid}`, { field });
}

/** ggml types bitsmith can write (those with a codec). */
function listEncodableTypes(): string[] {
  return listCodecs()
    .filter((c) => c.type.ggmlId !== undefined)
    .map((c) => c.type.name);
}
