/**
 * Writing a quantized model as a Hugging Face directory in one of the layouts: sharded safetensors holding the
 * plain tensors and every quantized linear's packed tensors, config.json with quantization_config, the
 * layout's extra files and the caller's (tokenizer) files.
 *
 * Linears are streamed: a safetensors header needs every tensor's shape before any data, and those follow from a
 * linear's shape and scheme alone, so the caller describes each linear up front and the writer asks for its
 * values (load()) only when it reaches that linear, in order, and drops them once its tensors are written.
 * At most one linear's values are in memory.
 */
import { BitsmithError, reportingReads, silentProgress, tensorByteSize, writeFiles } from "../../core/index.js";
import type { FileSystemLike, JsonObject, Progress } from "../../core/index.js";
import { INDEX_FILE_NAME, SINGLE_FILE_NAME, writeShardedSafetensors } from "../safetensors/index.js";
import type { TensorToWrite } from "../safetensors/index.js";
import type { LayoutWriteContext, LinearScheme, QuantizedLayout, QuantizedLayoutName, QuantizedLayoutOptions, SchemeGroup } from "./layout.js";
import { checkQuantizedLinear, checkQuantizedLinearShape, isSequentialGIdx } from "./quantized-linear.js";
import type { QuantizedLinear, QuantizedLinearShape } from "./quantized-linear.js";
import { unquantizedModules } from "./layout.js";
import { quantizedLayout } from "./registry.js";

/** A linear described up front, its values produced on demand. */
export interface QuantizedLinearSource extends QuantizedLinearShape {
  /** True when load() returns a g_idx that is not floor(i / groupSize) (GPTQ act-order). */
  readonly actOrder?: boolean;
  /** The linear's values; called once, when the writer reaches the linear. */
  load(): Promise<QuantizedLinear>;
}

export interface WriteQuantizedHfOptions extends QuantizedLayoutOptions {
  layout: QuantizedLayoutName;
  /** config.json of the model; quantization_config is added (replacing any). */
  config: JsonObject;
  /** Everything not quantized: embeddings, norms, lm_head, biases (`<module>.bias`), float linears. */
  tensors: readonly TensorToWrite[];
  /** The quantized linears, in writing order. */
  linears: readonly QuantizedLinearSource[];
  /** Other files to write verbatim, e.g. tokenizer.json, tokenizer_config.json, generation_config.json. */
  files?: Readonly<Record<string, string | Uint8Array>>;
  /** Largest safetensors shard in bytes; default: one file. */
  maxShardSize?: number;
  progress?: Progress;
}

/** Projections vLLM fuses into one layer (qkv_proj, gate_up_proj); it requires one scheme across each set. */
const FUSED_SETS: readonly (readonly string[])[] = [
  ["q_proj", "k_proj", "v_proj"],
  ["gate_proj", "up_proj"],
];

const sameScheme = (a: LinearScheme, b: LinearScheme) => a.bits === b.bits && a.groupSize === b.groupSize && a.symmetric === b.symmetric;

/** Groups the linears by (bits, group size, symmetry); a scheme has act-order when any of its linears has. */
function schemeGroups(linears: readonly QuantizedLinearSource[]): { groups: SchemeGroup[]; schemeOf: Map<string, LinearScheme> } {
  const byKey = new Map<string, { scheme: LinearScheme; modules: string[] }>();
  for (const l of linears) {
    const key = `${l.bits}/${l.groupSize}/${l.symmetric}`;
    const entry = byKey.get(key) ?? { scheme: { bits: l.bits, groupSize: l.groupSize, symmetric: l.symmetric, actOrder: false }, modules: [] };
    // With one group per row every g_idx is all zeros: act-order changes nothing stored (and compressed-tensors
    // forbids actorder "group" with the channel strategy).
    if (l.actOrder && l.groupSize !== -1) entry.scheme = { ...entry.scheme, actOrder: true };
    entry.modules.push(l.name);
    byKey.set(key, entry);
  }
  const groups = [...byKey.values()];
  const schemeOf = new Map<string, LinearScheme>();
  for (const g of groups) for (const m of g.modules) schemeOf.set(m, g.scheme);
  return { groups, schemeOf };
}

function checkLinears(options: WriteQuantizedHfOptions, layout: QuantizedLayout<unknown>, schemeOf: Map<string, LinearScheme>, ctx: LayoutWriteContext, dir: string): void {
  const { linears, tensors } = options;
  if (linears.length === 0) throw new BitsmithError("no quantized linears to write", { file: dir, field: "linears" });
  const plain = new Set(tensors.map((t) => t.name));
  const first = linears[0]!;
  for (const l of linears) {
    checkQuantizedLinearShape(l, dir);
    const scheme = schemeOf.get(l.name)!;
    if (layout.singleScheme && !sameScheme(scheme, schemeOf.get(first.name)!)) {
      throw new BitsmithError(
        `${layout.name} stores one bits/group_size/sym for the whole model: this linear has ${l.bits}/${l.groupSize}/${l.symmetric}, ${first.name} has ${first.bits}/${first.groupSize}/${first.symmetric}`,
        { file: dir, field: l.name },
      );
    }
    layout.check(l, scheme, ctx);
    if (unquantizedModules(options).includes(l.name)) {
      throw new BitsmithError("the linear is quantized but listed in unquantizedModules (default [\"lm_head\"])", { file: dir, field: l.name });
    }
    if (plain.has(`${l.name}.weight`)) throw new BitsmithError("the linear is quantized but its float .weight is among the plain tensors too", { file: dir, field: l.name });
    const m = /^(.*)\.([^.]+)$/.exec(l.name);
    const set = m ? FUSED_SETS.find((s) => s.includes(m[2]!)) : undefined;
    for (const sibling of set?.map((s) => `${m![1]}.${s}`) ?? []) {
      const other = schemeOf.get(sibling);
      const why = plain.has(`${sibling}.weight`) ? `${sibling} stays in float` : other && !sameScheme(other, scheme) ? `${sibling} has another scheme` : undefined;
      if (why) throw new BitsmithError(`${why}: vLLM fuses ${set!.join("/")} and requires one scheme for all of them`, { file: dir, field: l.name });
    }
  }
  const names = new Set<string>();
  for (const l of linears) {
    if (names.has(l.name)) throw new BitsmithError("linear listed twice", { file: dir, field: l.name });
    names.add(l.name);
  }
}

/** Throws unless load() returned the linear its source described. */
function checkLoaded(src: QuantizedLinearSource, q: QuantizedLinear, scheme: LinearScheme, dir: string): void {
  const fields = ["name", "outFeatures", "inFeatures", "bits", "groupSize", "symmetric"] as const;
  for (const f of fields) {
    if (q[f] !== src[f]) throw new BitsmithError(`load() returned ${f} ${JSON.stringify(q[f])}; the source declared ${JSON.stringify(src[f])}`, { file: dir, field: src.name });
  }
  checkQuantizedLinear(q, dir);
  if (q.gIdx && !scheme.actOrder && !isSequentialGIdx(q, q.gIdx)) {
    throw new BitsmithError("load() returned an act-order g_idx but the source did not declare actOrder", { file: dir, field: src.name });
  }
}

/** The linear's tensors; the first read loads and encodes it, the last releases it. */
function linearTensors(src: QuantizedLinearSource, scheme: LinearScheme, layout: QuantizedLayout<unknown>, ctx: LayoutWriteContext, dir: string, progress: Progress): TensorToWrite[] {
  const specs = layout.tensors(src, scheme, ctx);
  let encoded: Promise<Map<string, Uint8Array>> | undefined;
  let left = specs.length;
  return specs.map((spec) => {
    const name = `${src.name}.${spec.suffix}`;
    return {
      name,
      type: spec.type,
      shape: spec.shape,
      async read() {
        encoded ??= src.load().then((q) => {
          checkLoaded(src, q, scheme, dir);
          return layout.encode(q, scheme, ctx);
        });
        const bytes = (await encoded).get(spec.suffix)!;
        if (--left === 0) encoded = undefined;
        progress.advance(bytes.length, name);
        return bytes;
      },
    };
  });
}

const RESERVED_FILES = new Set(["config.json", "quantize_config.json", SINGLE_FILE_NAME, INDEX_FILE_NAME]);

/** Writes the model into `dir` (created if missing) and returns the names of the files written. */
export async function writeQuantizedHfModel(fs: FileSystemLike, dir: string, options: WriteQuantizedHfOptions): Promise<string[]> {
  const layout = quantizedLayout(options.layout);
  const progress = options.progress ?? silentProgress;
  const { config, ...layoutOptions } = options;
  const ctx: LayoutWriteContext = { options: layoutOptions, config };
  const { groups, schemeOf } = schemeGroups(options.linears);
  checkLinears(options, layout, schemeOf, ctx, dir);
  for (const name of Object.keys(options.files ?? {})) {
    if (RESERVED_FILES.has(name) || /^model-\d+-of-\d+\.safetensors$/.test(name)) throw new BitsmithError("the writer makes this file itself", { file: dir, field: name });
  }

  const { quantizationConfig, files: layoutFiles } = layout.configs(groups, ctx);
  const textFiles: Record<string, string | Uint8Array> = {
    "config.json": JSON.stringify({ ...config, quantization_config: quantizationConfig }, null, 2),
    ...layoutFiles,
    ...options.files,
  };
  const plain = reportingReads(options.tensors, progress);

  const weights = [...plain, ...options.linears.flatMap((l) => linearTensors(l, schemeOf.get(l.name)!, layout, ctx, dir, progress))];
  const total = weights.reduce((sum, t) => sum + (tensorByteSize(t.type, t.shape) ?? 0), 0);
  await fs.mkdir(dir);
  progress.start(`write ${layout.name}`, total, "B");
  const written = await writeShardedSafetensors(fs, dir, weights, {
    maxShardSize: options.maxShardSize ?? Number.MAX_SAFE_INTEGER,
    metadata: new Map([["format", "pt"]]),
  });
  // Text files last: a directory with config.json but no weights must never be left behind.
  await writeFiles(fs, dir, textFiles);
  progress.finish();
  return [...written, ...Object.keys(textFiles)];
}
