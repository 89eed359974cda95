/**
 * Runs one conversion in its own process and prints its time and peak resident memory as JSON, so the
 * benchmark measures the converter alone. Usage: node convert-child.js <src> <dst> <outtype>
 */
import "../src/codecs/index.js";
import { openModel } from "../src/model/open-model.js";
import { nodeFileSystem } from "../src/node/fs.js";
import { convertToGguf } from "../src/convert/to-gguf.js";
import { parseOutType } from "../src/convert/outtype.js";

const [src, dst, outtype] = process.argv.slice(2);
const started = performance.now();
const model = await openModel(nodeFileSystem, src!);
await convertToGguf(model, nodeFileSystem, dst!, { outtype: parseOutType(outtype ?? "auto") });
await model.close();
process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + "\n");
