/**
 * What the sequential pipeline produces per block: each linear's stored form (or float fallback), the block's
 * norms (changed by AWQ's scaling), and a report line per linear.
 */
import { bitsPerWeight } from "../../core/index.js";
import { requireCodec } from "../../codecs/index.js";
import { storageBits } from "../outliers.js";
import type { QuantizedWeights } from "../weight-format.js";

export interface LinearReport {
  /** GGUF name. */
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  /** "int4 g32 asym", "int3 per-channel sym act-order", "Q4_K", "F16 (kept)". */
  readonly stored: string;
  /** Including scales, zero points, g_idx and the outlier side list. */
  readonly bitsPerWeight: number;
  /** GPTQ's error estimate Σ (w − q)² / (2·U_ii²). */
  readonly loss?: number;
  /** GPTQ's dampening fraction. */
  readonly damp?: number;
  readonly deadColumns?: number;
  /** AWQ's chosen α. */
  readonly awqRatio?: number;
  /** Weights kept in fp16 in the side list. */
  readonly outliers?: number;
  /** Why the layer deviates from the requested format. */
  readonly note?: string;
}

export interface LinearOutcome {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  /** The stored form; undefined when the layer stays in floating point (`kept`). */
  readonly weights?: QuantizedWeights;
  /** fp16-exact weights of a layer left unquantized. */
  readonly kept?: Float32Array;
  /**
   * AWQ: the factors the layer's input columns were multiplied by (its input arrives divided by them, through
   * the norm or the previous layer), so the layer acts on the original input as weights / inputScales.
   */
  readonly inputScales?: Float64Array;
  /**
   * AWQ: the factors the layer's output rows were divided by (v before o, up before down), so relative to the
   * original model it computes weights[r][c] · outputScales[r] / inputScales[c].
   */
  readonly outputScales?: Float64Array;
  readonly report: LinearReport;
}

export interface BlockOutcome {
  readonly layer: number;
  readonly attnNorm: Float32Array;
  readonly ffnNorm: Float32Array;
  /** v's bias, when AWQ scaled v's rows (qwen2 has one). */
  readonly vBias?: Float32Array;
  readonly linears: readonly LinearOutcome[];
}

/** How a stored form is described in reports. */
export function describeWeights(q: QuantizedWeights | undefined): string {
  if (!q) return "F16 (kept)";
  if (q.kind === "codec") return q.typeName;
  const l = q.linear;
  const group = l.groupSize === -1 ? "per-channel" : `g${l.groupSize}`;
  return `int${l.bits} ${group} ${l.symmetric ? "sym" : "asym"}${l.gIdx ? " act-order" : ""}${q.outliers ? ` +${q.outliers.indices.length} fp16` : ""}`;
}

/** Bits per weight of a stored form, everything included. */
export function weightsBitsPerWeight(q: QuantizedWeights | undefined, rows: number, cols: number): number {
  if (!q) return 16;
  if (q.kind === "codec") return bitsPerWeight(requireCodec(q.typeName).type);
  return storageBits(q.linear, q.linear.gIdx !== undefined, q.outliers) / (rows * cols);
}
