/**
 * Every failure bitsmith reports about its input is a BitsmithError: it names the file and, where one is
 * known, the field or tensor at fault, so a user can find the problem without a debugger.
 */
export class BitsmithError extends Error {
  readonly file?: string;
  readonly field?: string;

  constructor(message: string, where: { file?: string; field?: string } = {}) {
    const prefix = [where.file, where.field].filter((s) => s !== undefined && s !== "").join(": ");
    super(prefix ? `${prefix}: ${message}` : message);
    this.name = "BitsmithError";
    this.file = where.file;
    this.field = where.field;
  }
}

/** Throws a BitsmithError when `condition` is false. */
export function check(condition: unknown, message: string, where: { file?: string; field?: string } = {}): asserts condition {
  if (!condition) throw new BitsmithError(message, where);
}

/** Throws a BitsmithError unless `threads` is a positive integer (a thread count given by the caller). */
export function checkThreadCount(threads: number): void {
  check(Number.isSafeInteger(threads) && threads >= 1, `thread count must be a positive integer, got ${threads}`, { field: "threads" });
}
