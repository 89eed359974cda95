/**
 * Reading the JSON files of a Hugging Face model directory with errors that name the file and the field, so a
 * user learns which file to fix rather than seeing a bare JSON.parse message.
 */
import { BitsmithError, isJsonObject } from "../../core/index.js";
import type { JsonObject } from "../../core/index.js";

export { isJsonObject };
export type { JsonObject };

/** Parses `text` as a JSON object; malformed JSON or another top-level value is a BitsmithError naming `file`. */
export function parseJsonObject(text: string, file: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new BitsmithError(`malformed JSON: ${(e as Error).message}`, { file });
  }
  if (!isJsonObject(value)) throw new BitsmithError("is not a JSON object", { file });
  return value;
}

/** A whole number >= `min` (JSON null counts as absent), or undefined when the field is absent. */
export function optionalInteger(obj: JsonObject, field: string, file: string, min = 1, label = field): number | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
    throw new BitsmithError(`must be a whole number >= ${min}, got ${JSON.stringify(v)}`, { file, field: label });
  }
  return v;
}

export function requiredInteger(obj: JsonObject, field: string, file: string, min = 1): number {
  const v = optionalInteger(obj, field, file, min);
  if (v === undefined) throw new BitsmithError("is missing", { file, field });
  return v;
}

/** A finite number (JSON null counts as absent), or undefined when the field is absent. `label` names it in errors. */
export function optionalNumber(obj: JsonObject, field: string, file: string, label = field): number | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new BitsmithError(`must be a number, got ${JSON.stringify(v)}`, { file, field: label });
  return v;
}

export function optionalBoolean(obj: JsonObject, field: string, file: string): boolean | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new BitsmithError(`must be true or false, got ${JSON.stringify(v)}`, { file, field });
  return v;
}
