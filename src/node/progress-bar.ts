/**
 * A progress bar with rate and ETA on stderr. On a terminal it redraws one line; otherwise (logs, CI) it
 * prints a line at every tenth of the work so logs stay short.
 */
import type { Progress } from "../core/index.js";

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}

/** Bytes in decimal units: "1.2 MB". */
export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function formatAmount(n: number, unit: string): string {
  return unit === "B" ? formatBytes(n) : `${Math.round(n)}${unit ? " " + unit : ""}`;
}

export class StderrProgressBar implements Progress {
  private label = "";
  private total = 0;
  private done = 0;
  private unit = "";
  private startedAt = 0;
  private lastDraw = 0;
  private lastTenth = -1;
  private detail = "";
  private readonly tty = process.stderr.isTTY === true;

  start(label: string, total: number, unit = ""): void {
    Object.assign(this, { label, total, unit, done: 0, startedAt: performance.now(), lastDraw: 0, lastTenth: -1, detail: "" });
    this.draw(true);
  }

  advance(amount: number, detail?: string): void {
    this.done += amount;
    if (detail !== undefined) this.detail = detail;
    this.draw(false);
  }

  finish(): void {
    this.done = this.total;
    this.draw(true);
    if (this.tty) process.stderr.write("\n");
  }

  private draw(force: boolean): void {
    const now = performance.now();
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    if (this.tty) {
      if (!force && now - this.lastDraw < 100) return;
    } else {
      const tenth = Math.floor(fraction * 10);
      if (tenth === this.lastTenth) return;
      this.lastTenth = tenth;
    }
    this.lastDraw = now;
    const elapsed = (now - this.startedAt) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : Infinity;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const line =
      `${this.label} ${bar} ${(fraction * 100).toFixed(0).padStart(3)}% ` +
      `${formatAmount(this.done, this.unit)}/${formatAmount(this.total, this.unit)} ` +
      `${formatAmount(rate, this.unit)}/s ETA ${formatDuration(eta)} ${this.detail}`;
    process.stderr.write(this.tty ? `\r\x1b[K${line.slice(0, (process.stderr.columns ?? 120) - 1)}` : line + "\n");
  }
}
