/**
 * Codec throughput, single thread: quantize (with and without an importance matrix) and dequantize of
 * N(0, 0.02) rows of 4096 values. Reports MB/s of float32 input (quantize) and output (dequantize), timed by
 * the process's CPU time rather than the wall clock, so other load on the machine does not skew the figures.
 * Run directly: node dist/bench/codecs.js [floats] [TYPE ...]
 */
import { SeededRandom } from "../src/core/index.js";
import { listCodecs, requireCodec } from "../src/codecs/index.js";

const ROW = 4096;
const mbPerSecond = (floats: number, ms: number) => (floats * 4) / 1e6 / (ms / 1e3);

/** CPU milliseconds (user + system) of the fastest of `runs` calls. */
function bestOf(runs: number, f: () => void): number {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = process.cpuUsage();
    f();
    const used = process.cpuUsage(t);
    best = Math.min(best, (used.user + used.system) / 1000);
  }
  return best;
}

export function benchCodecs(floats = 1 << 24, types = listCodecs().map((c) => c.type.name)): Record<string, number> {
  const rows = Math.max(1, Math.floor(floats / ROW));
  const x = new SeededRandom(1).fillNormal(new Float32Array(rows * ROW), 0.02);
  const imatrix = new SeededRandom(2).fillNormal(new Float32Array(ROW), 1).map((v) => v * v + 0.01);
  const out: Record<string, number> = {};
  for (const name of types) {
    const codec = requireCodec(name);
    // Slow searches get fewer rows so a run stays in seconds; throughput is per float either way.
    const probe = performance.now();
    codec.quantize(x.subarray(0, 16 * ROW), 16, ROW, imatrix);
    const perFloatMs = (performance.now() - probe) / (16 * ROW);
    const n = Math.min(rows, Math.max(16, Math.floor(4000 / perFloatMs / ROW)));
    const src = x.subarray(0, n * ROW);
    let bytes: Uint8Array = new Uint8Array(0);
    if (!codec.requiresImatrix) {
      out[`${name}.quantize`] = mbPerSecond(n * ROW, bestOf(2, () => (bytes = codec.quantize(src, n, ROW))));
    }
    out[`${name}.quantize_imatrix`] = mbPerSecond(n * ROW, bestOf(2, () => (bytes = codec.quantize(src, n, ROW, imatrix))));
    const deq = new Float32Array(n * ROW);
    out[`${name}.dequantize`] = mbPerSecond(n * ROW, bestOf(3, () => codec.dequantize(bytes, n * ROW, deq)));
  }
  return out;
}

if (process.argv[1]?.endsWith("codecs.js")) {
  const floats = process.argv[2] ? Number(process.argv[2]) : undefined;
  const types = process.argv.length > 3 ? process.argv.slice(3) : undefined;
  const result = benchCodecs(floats, types);
  console.log(JSON.stringify(Object.fromEntries(Object.entries(result).map(([k, v]) => [k, Math.round(v)])), null, 1));
}
