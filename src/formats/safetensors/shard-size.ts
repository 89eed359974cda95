/**
 * Parsing shard sizes the way Hugging Face's `max_shard_size` reads them: decimal units (KB = 10^3, MB = 10^6,
 * GB = 10^9, TB = 10^12, as huggingface_hub's `parse_size_to_int`), the value multiplied as a float and truncated
 * to whole bytes. Binary units (KiB, MiB, GiB, TiB = 2^10 ... 2^40), a bare letter ("1.5G" = decimal) and plain
 * byte counts ("1000", "1000B") are accepted as well; letters are case-insensitive, as in huggingface_hub.
 */
import { BitsmithError } from "../../core/index.js";

const POWERS: Record<string, number> = { K: 1, M: 2, G: 3, T: 4 };

/** Bytes in a size such as "2GB", "500MB", "5GiB", "1.5G" or "1048576". */
export function parseShardSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:([KMGT])(I)?B?|B)?\s*$/i.exec(text);
  const fail = (why: string) => new BitsmithError(`cannot use "${text}" as a size: ${why}`, { field: "max_shard_size" });
  if (!m) throw fail('expected a number and an optional unit (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. "2GB"');
  const power = m[2] ? POWERS[m[2].toUpperCase()]! : 0;
  const multiplier = m[3] ? 1024 ** power : 1000 ** power;
  const bytes = Math.floor(Number(m[1]) * multiplier);
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw fail("must be at least 1 byte and below 2^53");
  return bytes;
}
