/** The parent side of measured-child.ts: runs a job in a fresh process and returns its time and peak memory. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const CHILD = fileURLToPath(new URL("./measured-child.js", import.meta.url));

export interface Measured {
  seconds: number;
  maxRssBytes: number;
}

export function runMeasured(job: string, ...args: string[]): Measured {
  const r = spawnSync(process.execPath, [CHILD, job, ...args], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${job} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Measured;
}
