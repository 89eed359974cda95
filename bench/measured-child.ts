/**
 * Runs one benchmark job in its own process and prints its wall time and peak resident memory as JSON, so a
 * benchmark measures that job alone. Usage: node measured-child.js <job> <args...> (jobs below).
 */
import "../src/codecs/index.js";
import { openModel } from "../src/model/open-model.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { convertToGguf } from "../src/convert/to-gguf.js";
import { parseOutType } from "../src/convert/outtype.js";
import { mergeModels, parseMergeConfig } from "../src/merge/index.js";
import { quantizeModel } from "../src/quantize/quantize-model.js";
import { SingleThreadRowQuantizer } from "../src/quantize/row-quantizer.js";
import { WorkerRowQuantizer } from "../src/node/worker-row-quantizer.js";

const JOBS: Record<string, (args: string[]) => Promise<void>> = {
  /** convert <src> <dst.gguf> <outtype> */
  async convert([src, dst, outtype]) {
    const model = await openModel(nodeFileSystem, src!);
    await convertToGguf(model, nodeFileSystem, dst!, { outtype: parseOutType(outtype ?? "auto") });
    await model.close();
  },
  /** quantize <src> <dst.gguf> <TYPE> <threads> */
  async quantize([src, dst, type, threads]) {
    const model = await openModel(nodeFileSystem, src!);
    const n = Number(threads ?? 1);
    const rowQuantizer = n > 1 ? new WorkerRowQuantizer(n) : new SingleThreadRowQuantizer();
    try {
      await quantizeModel(model, nodeFileSystem, dst!, { type: type!, rowQuantizer });
    } finally {
      await rowQuantizer.close();
      await model.close();
    }
  },
  /** merge <config.yaml> <out> */
  async merge([config, out]) {
    await mergeModels(nodeFileSystem, parseMergeConfig(await nodeFileSystem.readText(config!), config!), out!);
  },
};

const [job, ...args] = process.argv.slice(2);
const run = JOBS[job ?? ""];
if (!run) throw new Error(`unknown job "${job}"; jobs: ${Object.keys(JOBS).join(", ")}`);
const started = performance.now();
await run(args);
process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + "\n");
