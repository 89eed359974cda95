#!/usr/bin/env node
/**
 * Entry point of the `bitsmith` command. Errors about the user's input (BitsmithError) print one clear line
 * and exit with status 1; anything else is a bug and keeps its stack trace.
 */
import { CommanderError } from "commander";
import { BitsmithError } from "../core/index.js";
import { buildProgram } from "./program.js";

async function main(): Promise<void> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof BitsmithError) {
      process.stderr.write(`bitsmith: error: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

await main();
