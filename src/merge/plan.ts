/**
 * Planning a merge as mergekit's MergePlanner does (mergekit/plan.py): `models` become one slice over all their
 * layers (the base model added when it is not listed); the output is the embeddings (merged from the first
 * slice's sources, t = 0), then every slice's layers renumbered consecutively (t = position in the slice, from
 * 0 to 1), then the other global tensors (final norm, output; from the last slice's sources, t = 1).
 *
 * Everything that can be wrong with the inputs is found here, before any output exists: layer ranges beyond a
 * model, missing or extra tensors, different shapes, architectures or head counts, missing or out-of-range
 * parameters, a base model missing for a method that needs one.
 */
import { BitsmithError, SeededRandom, tensorType } from "../core/index.js";
import type { ModelSource, TensorRef, TensorTypeInfo, TokenizerInfo } from "../core/index.js";
import { toFloat32 } from "../codecs/convert.js";
import { elementCount } from "../convert/tensor-transcode.js";
import { referencedModels } from "./config.js";
import type { MergeConfig, ParameterMap, SettingScalar, SliceSource } from "./config.js";
import type { ComputedTensor, DerivedChanges } from "./derived-source.js";
import { getMergeMethod } from "./methods/registry.js";
import type { MergeJob, MergeMethod, ParamValue, ParameterDef, TensorInput } from "./methods/method.js";
import { filterNames, inSharedNaming, indexTensors, isEmbeddingTensor, isInputEmbedding } from "./naming.js";
import type { Naming, TensorIndex } from "./naming.js";
import { lookupParameter } from "./parameters.js";
import type { ParameterScopes } from "./parameters.js";
import { permuteEmbeddings, vocabularyPermutation } from "./vocab-permutation.js";

export interface MergePlanOptions {
  /** Seed of the random drops (DARE); default 0. The same seed gives the same merge. */
  seed?: number;
  /** Element type of every output tensor, overriding out_dtype and dtype. */
  outType?: TensorTypeInfo;
  /** The configuration's file name, for messages. */
  configName?: string;
}

export interface MergePlan {
  readonly method: MergeMethod;
  readonly naming: Naming;
  /** The model the output is described as (base_model, else the first model), in the merge's naming. */
  readonly reference: ModelSource;
  /** Where the output's tokenizer comes from, as opened (a Hugging Face directory's files are copied). */
  readonly tokenizerDonor: ModelSource;
  /** Output tensors in output order. */
  readonly tensors: readonly ComputedTensor[];
  /** How the output differs from the reference's description. */
  readonly changes: DerivedChanges;
  /** The chat template the output gets, when the configuration sets one. */
  readonly chatTemplate?: string;
}

interface Slice {
  readonly sources: readonly SliceSource[];
  readonly base?: string;
  readonly parameters: ParameterMap;
  /** Where the slice is in the configuration, for messages. */
  readonly field: string;
}

interface SourceTensor {
  readonly source: SliceSource;
  readonly ref: TensorRef;
}

const EMPTY: ParameterMap = new Map();
const F32 = tensorType("F32")!;

/** FNV-1a of the tensor name mixed with the seed and the input's position: a stream per (tensor, input). */
function streamSeed(seed: number, name: string, input: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ Math.imul(input + 1, 0x9e3779b1)) >>> 0;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/** The most common template among the inputs (mergekit's chat_template: auto), or undefined. */
function pluralityTemplate(models: readonly ModelSource[]): string | undefined {
  const counts = new Map<string, number>();
  for (const m of models) {
    const t = m.info.tokenizer?.chatTemplate?.trim();
    if (t) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [t, n] of counts) if (best === undefined || n > counts.get(best)!) best = t;
  return best;
}

class Planner {
  private readonly method: MergeMethod;
  private readonly fail: (field: string, message: string) => never;
  private readonly views = new Map<string, ModelSource>();
  private readonly index = new Map<string, TensorIndex>();
  private naming: Naming = "hf";
  private referenceName = "";
  /** Output vocabulary and each input's row for every output token, when tokenizer_source is given. */
  private vocab?: { tokens: readonly string[]; tokensOf: Map<string, readonly string[]> };

  constructor(
    private readonly config: MergeConfig,
    private readonly opened: ReadonlyMap<string, ModelSource>,
    private readonly options: MergePlanOptions,
  ) {
    const file = options.configName;
    this.fail = (field, message) => {
      throw new BitsmithError(message, { file, field });
    };
    this.method = getMergeMethod(config.mergeMethod, { file, field: "merge_method" });
  }

  private model(name: string): ModelSource {
    return this.opened.get(name) ?? this.fail("models", `model ${name} was not opened`);
  }

  plan(): MergePlan {
    const { config, method } = this;
    if ((config.models?.length ?? 0) > 0 === (config.slices?.length ?? 0) > 0) this.fail("models", 'give exactly one of "models" and "slices"');
    const inputs = referencedModels(config);
    this.referenceName = config.baseModel ?? inputs[0]!;
    const shared = inSharedNaming(inputs.map((n) => this.model(n)));
    this.naming = shared.naming;
    inputs.forEach((n, i) => {
      this.views.set(n, shared.views[i]!);
      this.index.set(n, indexTensors(shared.views[i]!, this.naming));
    });
    this.checkSameArchitecture(inputs);
    this.checkSameGlobals(inputs);

    const slices = this.slices();
    for (const s of slices) this.checkSlice(s);
    const donorName = config.tokenizerSource?.kind === "model" ? config.tokenizerSource.model : this.referenceName;
    const donor = this.model(donorName);
    if (config.tokenizerSource) this.vocab = this.vocabulary(donor, donorName, inputs);

    const tensors = this.outputTensors(slices);
    const numLayers = slices.reduce((n, s) => n + s.sources[0]!.layerRange[1] - s.sources[0]!.layerRange[0], 0);
    const chatTemplate = config.chatTemplate === "auto" ? pluralityTemplate(inputs.map((n) => this.model(n))) : config.chatTemplate;
    let tokenizer: DerivedChanges["tokenizer"];
    if (donorName !== this.referenceName || chatTemplate !== undefined) {
      const info = donor.info.tokenizer ?? this.fail(config.tokenizerSource ? "tokenizer_source" : "chat_template", `${donorName} has no tokenizer`);
      tokenizer = { info: chatTemplate === undefined ? info : { ...info, chatTemplate }, from: donor };
    }
    return {
      method,
      naming: this.naming,
      reference: this.views.get(this.referenceName)!,
      tokenizerDonor: donor,
      tensors,
      changes: { numLayers, vocabSize: this.vocab?.tokens.length, tokenizer, outType: this.options.outType ?? config.outDtype ?? config.dtype },
      chatTemplate,
    };
  }

  private checkSameArchitecture(inputs: readonly string[]): void {
    const ref = this.views.get(this.referenceName)!.info;
    for (const name of inputs) {
      const info = this.views.get(name)!.info;
      if (info.architecture !== ref.architecture) {
        this.fail("models", `${name} is a ${info.architecture} model but ${this.referenceName} is ${ref.architecture}: models of different architectures cannot be merged`);
      }
      for (const key of ["numHeads", "numKvHeads", "hiddenSize"] as const) {
        const a = info.hparams?.[key];
        const b = ref.hparams?.[key];
        if (a !== undefined && b !== undefined && a !== b) {
          this.fail("models", `${name} has ${key} ${a} but ${this.referenceName} has ${b}: the models have different shapes`);
        }
      }
    }
  }

  /** Every input has the reference's global tensors (embeddings, final norm, output) and no others. */
  private checkSameGlobals(inputs: readonly string[]): void {
    const ref = this.index.get(this.referenceName)!.globals;
    for (const name of inputs) {
      const globals = this.index.get(name)!.globals;
      for (const t of ref.keys()) if (!globals.has(t)) this.fail(t, `tensor is missing from ${name} (${this.referenceName} has it)`);
      for (const t of globals.keys()) if (!ref.has(t)) this.fail(t, `${name} has this tensor but ${this.referenceName} does not`);
    }
  }

  /** The configuration's slices; `models` as one slice over every layer, the base model added if unlisted. */
  private slices(): Slice[] {
    const { config } = this;
    if (config.slices && config.slices.length > 0) {
      return config.slices.map((s, i) => ({ sources: s.sources, base: s.baseModel ?? config.baseModel, parameters: s.parameters, field: `slices[${i}]` }));
    }
    const all = (model: string, parameters: ParameterMap): SliceSource => ({ model, layerRange: [0, this.index.get(model)!.numLayers], parameters });
    const sources = config.models!.map((m) => all(m.model, m.parameters));
    const base = config.baseModel;
    if (base !== undefined && !sources.some((s) => s.model === base)) sources.push(all(base, EMPTY));
    return [{ sources, base, parameters: EMPTY, field: "models" }];
  }

  private checkSlice(s: Slice): void {
    const isModels = s.field === "models";
    s.sources.forEach((src, j) => {
      const n = this.index.get(src.model)!.numLayers;
      const [start, end] = src.layerRange;
      if (end > n) {
        this.fail(`${s.field}.sources[${j}].layer_range`, `[${start}, ${end}] is beyond ${src.model}, which has ${n} layers (0 to ${n - 1})`);
      }
    });
    const lengths = s.sources.map((src) => src.layerRange[1] - src.layerRange[0]);
    if (lengths.some((l) => l !== lengths[0])) {
      const list = s.sources.map((src, j) => `${src.model}: ${lengths[j]}`).join(", ");
      this.fail(s.field, isModels ? `the models have different numbers of layers (${list})` : `every source of a slice must cover the same number of layers (${list})`);
    }
    if (this.method.base === "reference") {
      if (s.base === undefined) this.fail("base_model", `merge method ${this.method.name} needs base_model (the model the others are measured against)`);
      if (!s.sources.some((src) => src.model === s.base)) this.fail(s.field, `base_model ${s.base} is not among the slice's sources`);
    }
    const problem = this.method.checkSources?.(s.sources.length);
    if (problem) this.fail(s.field, problem);
  }

  private vocabulary(donor: ModelSource, donorName: string, inputs: readonly string[]): { tokens: readonly string[]; tokensOf: Map<string, readonly string[]> } {
    const tokens = donor.info.tokenizer?.tokens ?? this.fail("tokenizer_source", `${donorName} has no tokenizer (vocabulary)`);
    const fallback = this.views.get(this.referenceName)!.info.tokenizer?.tokens;
    const tokensOf = new Map<string, readonly string[]>();
    for (const name of inputs) {
      // mergekit assumes a model without a loadable tokenizer shares the base model's.
      const own = this.views.get(name)!.info.tokenizer?.tokens ?? fallback;
      if (!own) this.fail("tokenizer_source", `${name} has no tokenizer, so its embedding rows cannot be matched to tokens`);
      tokensOf.set(name, own);
    }
    return { tokens, tokensOf };
  }

  private outputTensors(slices: readonly Slice[]): ComputedTensor[] {
    const first = slices[0]!;
    const last = slices[slices.length - 1]!;
    const globals = [...this.index.get(this.referenceName)!.globals.keys()];
    const global = (name: string, slice: Slice, t: number) =>
      this.planTensor(name, slice, slice.sources.map((source) => ({ source, ref: this.index.get(source.model)!.globals.get(name)! })), t);

    const out = globals.filter(isInputEmbedding).map((name) => global(name, first, 0));
    const prefix = this.index.get(this.referenceName)!.layerPrefix;
    let layer = 0;
    for (const s of slices) {
      const count = s.sources[0]!.layerRange[1] - s.sources[0]!.layerRange[0];
      for (let i = 0; i < count; i++, layer++) {
        const t = count > 1 ? i / (count - 1) : 1;
        const tensors = s.sources.map((src) => this.index.get(src.model)!.layers.get(src.layerRange[0] + i)!);
        const suffixes = [...tensors[0]!.keys()];
        s.sources.forEach((src, j) => {
          const at = src.layerRange[0] + i;
          for (const suffix of suffixes) {
            if (!tensors[j]!.has(suffix)) this.fail(`${prefix}${at}.${suffix}`, `tensor is missing from ${src.model} (${s.sources[0]!.model} has it)`);
          }
          for (const suffix of tensors[j]!.keys()) {
            if (!suffixes.includes(suffix)) this.fail(`${prefix}${at}.${suffix}`, `${src.model} has this tensor but ${s.sources[0]!.model} does not`);
          }
        });
        for (const suffix of suffixes) {
          const inputs = s.sources.map((source, j) => ({ source, ref: tensors[j]!.get(suffix)! }));
          out.push(this.planTensor(`${prefix}${layer}.${suffix}`, s, inputs, t));
        }
      }
    }
    out.push(...globals.filter((n) => !isInputEmbedding(n)).map((name) => global(name, last, 1)));
    if (slices[0]!.field !== "models") return out;
    // Merging whole models keeps every name: keep the reference's tensor order too.
    const order = new Map(this.views.get(this.referenceName)!.tensors.map((t, i) => [t.name, i]));
    return out.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  }

  /** One parameter's value: looked up, defaulted, checked for kind and range. */
  private parameter(def: ParameterDef, scopes: ParameterScopes, names: readonly string[], t: number, required: boolean, what: string): ParamValue | undefined {
    const found: SettingScalar | undefined = lookupParameter(def.name, scopes, names, t);
    const v: SettingScalar | undefined = found ?? def.default;
    if (v === undefined) {
      if (required) this.fail(`parameters.${def.name}`, `missing required parameter ${def.name} for ${what}`);
      return undefined;
    }
    if (def.kind === "boolean" ? typeof v !== "boolean" : typeof v !== "number" || !Number.isFinite(v)) {
      this.fail(`parameters.${def.name}`, `must be ${def.kind === "boolean" ? "true or false" : "a number"} for ${what}, got ${JSON.stringify(v)}`);
    }
    if (def.range && typeof v === "number" && (v < def.range[0] || v > def.range[1])) {
      this.fail(`parameters.${def.name}`, `must be between ${def.range[0]} and ${def.range[1]} for ${what}, got ${v}`);
    }
    return v as ParamValue;
  }

  private planTensor(name: string, slice: Slice, sources: readonly SourceTensor[], t: number): ComputedTensor {
    const { method, config } = this;
    const globalScopes = [slice.parameters, config.parameters];
    const params = Object.fromEntries(method.parameters.map((d) => [d.name, this.parameter(d, globalScopes, filterNames(name), t, !!d.required, `tensor ${name}`)]));
    const base = method.base === "reference" ? slice.base : undefined;
    const inputParams = sources.map(({ source, ref }) => {
      const scopes = [source.parameters, slice.parameters, config.parameters];
      const isBase = source.model === base;
      const what = `model ${source.model}, tensor ${ref.name}`;
      return Object.fromEntries(method.tensorParameters.map((d) => [d.name, this.parameter(d, scopes, filterNames(ref.name), t, !!d.required && !isBase, what)]));
    });
    const shape = this.outputShape(name, sources);
    const baseIndex = sources.findIndex((s) => s.source.model === base);
    const typeSource = sources[Math.max(0, baseIndex)]!.ref.type;
    const type = this.options.outType ?? config.outDtype ?? config.dtype ?? (["F32", "F16", "BF16"].includes(typeSource.name) ? typeSource : F32);
    const seed = this.options.seed ?? 0;

    const jobWith = (load: (k: number) => Promise<Float32Array>): MergeJob => ({
      tensorName: name,
      shape,
      params,
      inputs: sources.map(
        ({ source }, k): TensorInput => ({
          model: source.model,
          isBase: source.model === base,
          params: inputParams[k]!,
          load: () => load(k),
          random: () => new SeededRandom(streamSeed(seed, name, k)),
        }),
      ),
    });
    const problem = method.checkTensor?.(jobWith(() => Promise.reject(new Error("not loaded while planning"))));
    if (problem) this.fail(name, problem);

    const decode = async (ref: TensorRef) => toFloat32(await ref.read(), ref.type, elementCount(ref.shape));
    const vocab = this.vocab;
    if (!vocab || !isEmbeddingTensor(name)) {
      return { name, shape, type, compute: () => method.merge(jobWith((k) => decode(sources[k]!.ref))) };
    }
    const width = shape[1]!;
    const permutations = sources.map(({ source, ref }) => vocabularyPermutation(vocab.tokens, vocab.tokensOf.get(source.model)!, ref.shape[0]!));
    return {
      name,
      shape,
      type,
      async compute() {
        // Every input's rows are needed to fill the rows another input lacks, so all are permuted together.
        let permuted: (Float32Array | undefined)[] | undefined;
        const all = async () => {
          if (!permuted) {
            const values: Float32Array[] = [];
            for (const s of sources) values.push(await decode(s.ref));
            permuted = permuteEmbeddings(values.map((v, k) => ({ values: v, permutation: permutations[k]!, isBase: k === baseIndex })), width);
          }
          return permuted;
        };
        return method.merge(
          jobWith(async (k) => {
            const p = await all();
            const v = p[k];
            if (!v) throw new Error(`${name}: input ${k} was loaded twice`);
            p[k] = undefined;
            return v;
          }),
        );
      },
    };
  }

  /** The common shape of the inputs; for embeddings under tokenizer_source, [output vocabulary, width]. */
  private outputShape(name: string, sources: readonly SourceTensor[]): number[] {
    const shapes = sources.map((s) => s.ref.shape);
    const list = () => sources.map((s) => `${s.source.model} ${shapeText(s.ref.shape)}`).join(", ");
    if (this.vocab && isEmbeddingTensor(name)) {
      if (shapes.some((s) => s.length !== 2 || s[1] !== shapes[0]![1])) this.fail(name, `embedding widths differ: ${list()}`);
      return [this.vocab.tokens.length, shapes[0]![1]!];
    }
    if (shapes.some((s) => shapeText(s) !== shapeText(shapes[0]!))) {
      const hint = isEmbeddingTensor(name) ? '; the vocabularies differ: set tokenizer_source (e.g. "base") to merge the embeddings by token' : "";
      this.fail(name, `tensor shapes differ: ${list()}${hint}`);
    }
    return [...shapes[0]!];
  }
}

/** Plans the merge of `config` over `models` (every model the configuration names, opened). */
export function planMerge(config: MergeConfig, models: ReadonlyMap<string, ModelSource>, options: MergePlanOptions = {}): MergePlan {
  return new Planner(config, models, options).plan();
}
