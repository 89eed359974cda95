/**
 * `npm run bench`: runs every benchmark and prints one JSON object (numbers keyed by benchmark and measure).
 * Select some with arguments: `npm run bench -- safetensors convert`.
 */
import { benchBrowserKernels } from "./browser-kernels.js";
import { benchCodecs } from "./codecs.js";
import { benchConvert } from "./convert.js";
import { benchEngine } from "./engine.js";
import { benchKernels } from "./kernels.js";
import { benchLinalg } from "./linalg.js";
import { benchMerge } from "./merge.js";
import { benchMethods } from "./methods.js";
import { benchQuantize } from "./quantize.js";
import { benchSafetensors } from "./safetensors.js";
import { benchTokenizers } from "./tokenizer.js";

const BENCHES: Record<string, () => Promise<Record<string, number>> | Record<string, number>> = {
  safetensors: benchSafetensors,
  convert: benchConvert,
  merge: benchMerge,
  quantize: benchQuantize,
  codecs: () => benchCodecs(),
  kernels: benchKernels,
  "browser-kernels": benchBrowserKernels,
  linalg: benchLinalg,
  engine: benchEngine,
  tokenizers: benchTokenizers,
  methods: benchMethods,
};

const wanted = process.argv.slice(2);
const results: Record<string, unknown> = { node: process.version, cpus: (await import("node:os")).cpus().length };
for (const [name, run] of Object.entries(BENCHES)) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  process.stderr.write(`bench: ${name}...\n`);
  results[name] = await run();
}
process.stdout.write(JSON.stringify(results, null, 2) + "\n");
