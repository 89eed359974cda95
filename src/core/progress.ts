/**
 * Progress reporting for long work. The library reports amounts done; a front end (the CLI's stderr bar, a web
 * page) renders them. Amounts are in whatever unit the work counts (bytes, tensors, tokens).
 */
export interface Progress {
  start(label: string, total: number, unit?: string): void;
  advance(amount: number, detail?: string): void;
  finish(): void;
}

export const silentProgress: Progress = {
  start() {},
  advance() {},
  finish() {},
};
