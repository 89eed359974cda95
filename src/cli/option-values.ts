/** Parsing of numeric command-line values, with errors that name the flag. */
import { BitsmithError } from "../core/index.js";

/** An integer flag value within [min, max]. */
export function integerOption(value: string, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new BitsmithError(`${flag} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? "" : ` to ${max}`}, got "${value}"`);
  }
  return n;
}

/** A finite number flag value within [min, max]. */
export function numberOption(value: string, flag: string, min = -Infinity, max = Infinity): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < min || n > max) {
    throw new BitsmithError(`${flag} must be a number from ${min} to ${max}, got "${value}"`);
  }
  return n;
}

/** One of the allowed words. */
export function choiceOption<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new BitsmithError(`${flag} must be one of ${choices.join(", ")}, got "${value}"`);
  return value as T;
}
