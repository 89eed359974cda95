/** Runs the compiled `bitsmith` command as a user would, capturing its output and exit code. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The compiled command (package.json's "bin"). */
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
