/**
 * What `bitsmith inspect` reports about a model, as plain data (the CLI prints it or emits it as JSON).
 */
import { bitsPerWeight } from "../core/index.js";
import type { ModelSource } from "../core/index.js";

export interface TensorSummary {
  name: string;
  /** Outermost first (PyTorch order); GGUF's ne is the reverse. */
  shape: number[];
  type: string;
  bytes: number;
  bitsPerWeight: number;
}

export interface ModelSummary {
  file: string;
  format: string;
  architecture: string;
  sourceArchitecture?: string;
  name?: string;
  hparams?: Record<string, unknown>;
  tokenizer?: {
    model: string;
    pre?: string;
    vocabSize: number;
    merges?: number;
    bos?: string;
    eos?: string;
    addBos?: boolean;
    chatTemplate: boolean;
  };
  tensors: TensorSummary[];
  totals: { tensors: number; parameters: number; bytes: number; bitsPerWeight: number; byType: Record<string, number> };
  metadata: Record<string, unknown>;
}

/** A metadata value for display: long arrays shortened to their length and first items. */
function displayValue(v: unknown): unknown {
  if (v && typeof v === "object" && "type" in v && "value" in v) return displayValue((v as { value: unknown }).value);
  if (typeof v === "bigint") return v.toString();
  if (ArrayBuffer.isView(v) || Array.isArray(v)) {
    const arr = Array.from(v as ArrayLike<unknown>);
    return arr.length > 8 ? `[${arr.length} items: ${arr.slice(0, 5).map((x) => JSON.stringify(displayValue(x))).join(", ")}, ...]` : arr.map(displayValue);
  }
  return v;
}

export function summarizeModel(source: ModelSource): ModelSummary {
  const tensors: TensorSummary[] = source.tensors.map((t) => ({
    name: t.name,
    shape: [...t.shape],
    type: t.type.name,
    bytes: t.byteLength,
    bitsPerWeight: bitsPerWeight(t.type),
  }));
  let parameters = 0;
  let bytes = 0;
  const byType: Record<string, number> = {};
  for (const t of tensors) {
    parameters += t.shape.reduce((a, b) => a * b, 1);
    bytes += t.bytes;
    byType[t.type] = (byType[t.type] ?? 0) + 1;
  }
  const tok = source.info.tokenizer;
  const metadata: Record<string, unknown> = {};
  for (const [k, v] of source.metadata) metadata[k] = displayValue(v);
  return {
    file: source.name,
    format: source.format,
    architecture: source.info.architecture,
    sourceArchitecture: source.info.sourceArchitecture,
    name: source.info.name,
    hparams: source.info.hparams ? { ...source.info.hparams } : undefined,
    tokenizer: tok
      ? {
          model: tok.model,
          pre: tok.pre,
          vocabSize: tok.tokens.length,
          merges: tok.merges?.length,
          bos: tok.bosId !== undefined ? tok.tokens[tok.bosId] : undefined,
          eos: tok.eosId !== undefined ? tok.tokens[tok.eosId] : undefined,
          addBos: tok.addBos,
          chatTemplate: tok.chatTemplate !== undefined,
        }
      : undefined,
    tensors,
    totals: { tensors: tensors.length, parameters, bytes, bitsPerWeight: parameters > 0 ? (bytes * 8) / parameters : 0, byType },
    metadata,
  };
}
