/**
 * generation_config.json: the special token ids transformers' generate() uses. eos_token_id may be one id or a
 * list (Llama 3.1 stops at any of three).
 */
import { BitsmithError } from "../../core/index.js";
import { optionalInteger, parseJsonObject } from "./json-file.js";
import type { JsonObject } from "./json-file.js";

export interface HfGenerationConfig {
  bosTokenId?: number;
  /** Every id generation stops at, in the file's order (one element when the file gives a single id). */
  eosTokenIds?: number[];
  padTokenId?: number;
  raw: JsonObject;
}

export function parseGenerationConfig(text: string, file = "generation_config.json"): HfGenerationConfig {
  const raw = parseJsonObject(text, file);
  const out: HfGenerationConfig = { raw };
  const bos = optionalInteger(raw, "bos_token_id", file, 0);
  if (bos !== undefined) out.bosTokenId = bos;
  const pad = optionalInteger(raw, "pad_token_id", file, 0);
  if (pad !== undefined) out.padTokenId = pad;
  const eos = raw.eos_token_id;
  if (Array.isArray(eos)) {
    out.eosTokenIds = eos.map((id, i) => {
      if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
        throw new BitsmithError(`must be a token id, got ${JSON.stringify(id)}`, { file, field: `eos_token_id[${i}]` });
      }
      return id;
    });
  } else {
    const one = optionalInteger(raw, "eos_token_id", file, 0);
    if (one !== undefined) out.eosTokenIds = [one];
  }
  return out;
}
