/**
 * mergekit's YAML merge configuration to a MergeConfig. Every error names the file, the key path and its line
 * and column: YAML syntax errors, unknown keys (mergekit's pydantic models silently ignore them; a typo in a
 * merge should not), values of the wrong kind, parameters the method does not take, values out of range.
 *
 * YAML is read with the YAML 1.2 core schema; for booleans the YAML 1.1 words PyYAML accepts (yes/no/on/off)
 * are taken too.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from "yaml";
import type { Node } from "yaml";
import { BitsmithError, tensorType } from "../core/index.js";
import type { TensorTypeInfo } from "../core/index.js";
import type { ConditionalSetting, InputModel, MergeConfig, OutputSlice, ParameterMap, ParameterSetting, SettingScalar, SliceSource, TokenizerSource } from "./config.js";
import { getMergeMethod } from "./methods/registry.js";
import type { MergeMethod, ParameterDef } from "./methods/method.js";

type YamlNode = Node | null | undefined;

const TOP_KEYS = ["merge_method", "models", "slices", "base_model", "parameters", "dtype", "out_dtype", "tokenizer_source", "chat_template"];
const MODEL_KEYS = ["model", "parameters"];
const SLICE_KEYS = ["sources", "base_model", "parameters"];
const SOURCE_KEYS = ["model", "layer_range", "parameters"];
const CONDITION_KEYS = ["filter", "value"];
/** mergekit keys bitsmith knows but does not implement. */
const UNSUPPORTED: Record<string, string> = {
  modules: "multi-module merges are not supported by bitsmith",
  tokenizer: "the tokenizer: section (added tokens, padding) is not supported by bitsmith; use tokenizer_source",
  residual_weight: "residual_weight is not supported by bitsmith",
};
/** mergekit's bundled chat templates, which bitsmith does not ship. */
const NAMED_TEMPLATES = ["alpaca", "chatml", "exaone", "llama3", "mistral"];
const YAML11_BOOLEANS: Record<string, boolean> = {
  yes: true, Yes: true, YES: true, on: true, On: true, ON: true,
  no: false, No: false, NO: false, off: false, Off: false, OFF: false,
};

/** torch dtype names (mergekit's dtype_from_name) and bitsmith's type names to a float type. */
export function parseDtypeName(text: string): TensorTypeInfo | undefined {
  const name = text.startsWith("torch.") ? text.slice("torch.".length) : text;
  const byTorch: Record<string, string> = { float32: "F32", float16: "F16", bfloat16: "BF16" };
  const t = tensorType(byTorch[name] ?? name);
  return t && ["F32", "F16", "BF16"].includes(t.name) ? t : undefined;
}

class ConfigReader {
  constructor(
    private readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  fail(node: YamlNode, path: string, message: string): never {
    const at = node?.range ? this.lines.linePos(node.range[0]) : undefined;
    const where = at ? `${path} (line ${at.line}, column ${at.col})` : path;
    throw new BitsmithError(message, { file: this.file, field: where });
  }

  /** A mapping's entries by key, refusing keys outside `allowed`. */
  map(node: YamlNode, path: string, allowed?: readonly string[]): Map<string, { key: Node; value: YamlNode }> {
    if (!isMap(node)) this.fail(node, path, "must be a mapping (key: value)");
    const out = new Map<string, { key: Node; value: YamlNode }>();
    for (const pair of node.items) {
      const key = pair.key as YamlNode;
      if (!isScalar(key) || typeof key.value !== "string") this.fail(key ?? node, path, "keys must be plain words");
      const name = key.value as string;
      const at = path === "" ? name : `${path}.${name}`;
      if (allowed && !allowed.includes(name)) {
        const why = UNSUPPORTED[name] ?? `unknown key "${name}"; expected one of: ${allowed.join(", ")}`;
        this.fail(key, at, why);
      }
      out.set(name, { key, value: pair.value as YamlNode });
    }
    return out;
  }

  seq(node: YamlNode, path: string): YamlNode[] {
    if (!isSeq(node)) this.fail(node, path, "must be a list");
    if (node.items.length === 0) this.fail(node, path, "must not be empty");
    return node.items as YamlNode[];
  }

  scalar(node: YamlNode, path: string): SettingScalar {
    if (!isScalar(node) || node.value === null || node.value === undefined) this.fail(node, path, "must be a number, true/false or a string");
    const v = node.value;
    if (typeof v === "number" || typeof v === "boolean" || typeof v === "string") return v;
    this.fail(node, path, "must be a number, true/false or a string");
  }

  string(node: YamlNode, path: string): string {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v !== "string" || v === "") this.fail(node, path, "must be a non-empty string");
    return v;
  }

  integer(node: YamlNode, path: string): number {
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) this.fail(node, path, "must be a whole number >= 0");
    return v;
  }
}

/** One value of a parameter, checked against what the method expects. */
function parameterScalar(r: ConfigReader, node: YamlNode, path: string, def: ParameterDef): SettingScalar {
  let v = r.scalar(node, path);
  if (def.kind === "boolean") {
    if (typeof v === "string" && v in YAML11_BOOLEANS) v = YAML11_BOOLEANS[v]!;
    if (typeof v !== "boolean") r.fail(node, path, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  if (typeof v !== "number" || !Number.isFinite(v)) r.fail(node, path, `must be a number, got ${JSON.stringify(v)}`);
  if (def.range && (v < def.range[0] || v > def.range[1])) r.fail(node, path, `must be between ${def.range[0]} and ${def.range[1]}, got ${v}`);
  return v;
}

/** A scalar or a gradient (list of scalars). */
function settingValue(r: ConfigReader, node: YamlNode, path: string, def: ParameterDef): SettingScalar | SettingScalar[] {
  if (isSeq(node)) return r.seq(node, path).map((item, i) => parameterScalar(r, item, `${path}[${i}]`, def));
  return parameterScalar(r, node, path, def);
}

function condition(r: ConfigReader, node: YamlNode, path: string, def: ParameterDef): ConditionalSetting {
  const m = r.map(node, path, CONDITION_KEYS);
  const value = m.get("value");
  if (!value) r.fail(node, path, 'a conditional parameter needs "value" (and optionally "filter")');
  const filter = m.get("filter");
  return {
    ...(filter ? { filter: r.string(filter.value, `${path}.filter`) } : {}),
    value: settingValue(r, value.value, `${path}.value`, def),
  };
}

function parameterSetting(r: ConfigReader, node: YamlNode, path: string, def: ParameterDef): ParameterSetting {
  // A lone {filter, value} mapping is taken as a one-condition list.
  if (isMap(node)) return [condition(r, node, path, def)];
  if (isSeq(node)) {
    const items = r.seq(node, path);
    const maps = items.filter((i) => isMap(i)).length;
    if (maps === 0) return settingValue(r, node, path, def);
    if (maps !== items.length) r.fail(node, path, "must be a list of values (a gradient) or a list of {filter, value} conditions, not a mix");
    return items.map((item, i) => condition(r, item, `${path}[${i}]`, def));
  }
  return settingValue(r, node, path, def);
}

type ParameterLevel = "merge" | "slice" | "model";

/**
 * A `parameters:` mapping. Per-model parameters (weight, density, ...) may be given at every level (mergekit
 * looks them up from the model up to the whole merge); whole-merge ones (normalize, t, ...) not per model.
 */
function parameters(r: ConfigReader, node: YamlNode, path: string, method: MergeMethod, level: ParameterLevel): ParameterMap {
  const out = new Map<string, ParameterSetting>();
  if (node === null || node === undefined || (isScalar(node) && node.value === null)) return out;
  const perModel = new Map(method.tensorParameters.map((d) => [d.name, d]));
  const whole = new Map(method.parameters.map((d) => [d.name, d]));
  for (const [name, { key, value }] of r.map(node, path)) {
    const at = `${path}.${name}`;
    const def = perModel.get(name) ?? (level === "model" ? undefined : whole.get(name));
    if (!def) {
      if (whole.has(name)) r.fail(key, at, `"${name}" is a parameter of the whole merge, not of one model: move it to the top-level or slice parameters`);
      const known = [...perModel.keys(), ...(level === "model" ? [] : whole.keys())];
      r.fail(key, at, `${method.name} has no parameter "${name}"; it takes: ${known.join(", ") || "none"}`);
    }
    if (value === null || value === undefined || (isScalar(value) && value.value === null)) r.fail(key, at, "has no value");
    out.set(name, parameterSetting(r, value, at, def));
  }
  return out;
}

function inputModel(r: ConfigReader, node: YamlNode, path: string, method: MergeMethod): InputModel {
  const m = r.map(node, path, MODEL_KEYS);
  const model = m.get("model");
  if (!model) r.fail(node, path, 'needs "model"');
  return {
    model: r.string(model.value, `${path}.model`),
    parameters: parameters(r, m.get("parameters")?.value, `${path}.parameters`, method, "model"),
  };
}

function sliceSource(r: ConfigReader, node: YamlNode, path: string, method: MergeMethod): SliceSource {
  const m = r.map(node, path, SOURCE_KEYS);
  const model = m.get("model");
  const range = m.get("layer_range");
  if (!model || !range) r.fail(node, path, 'a slice source needs "model" and "layer_range"');
  const bounds = r.seq(range.value, `${path}.layer_range`);
  if (bounds.length !== 2) r.fail(range.value, `${path}.layer_range`, "must be [start, end]");
  const start = r.integer(bounds[0], `${path}.layer_range[0]`);
  const end = r.integer(bounds[1], `${path}.layer_range[1]`);
  if (end <= start) r.fail(range.value, `${path}.layer_range`, `must be [start, end) with start < end, got [${start}, ${end}]`);
  return {
    model: r.string(model.value, `${path}.model`),
    layerRange: [start, end],
    parameters: parameters(r, m.get("parameters")?.value, `${path}.parameters`, method, "model"),
  };
}

function outputSlice(r: ConfigReader, node: YamlNode, path: string, method: MergeMethod): OutputSlice {
  const m = r.map(node, path, SLICE_KEYS);
  const sources = m.get("sources");
  if (!sources) r.fail(node, path, 'a slice needs "sources"');
  const base = m.get("base_model");
  return {
    sources: r.seq(sources.value, `${path}.sources`).map((s, i) => sliceSource(r, s, `${path}.sources[${i}]`, method)),
    ...(base ? { baseModel: r.string(base.value, `${path}.base_model`) } : {}),
    parameters: parameters(r, m.get("parameters")?.value, `${path}.parameters`, method, "slice"),
  };
}

function dtype(r: ConfigReader, node: YamlNode, path: string): TensorTypeInfo {
  const text = r.string(node, path);
  const t = parseDtypeName(text);
  if (!t) r.fail(node, path, `unsupported dtype "${text}"; use float32, float16 or bfloat16`);
  return t;
}

function tokenizerSource(r: ConfigReader, node: YamlNode, path: string): TokenizerSource {
  const text = r.string(node, path);
  if (text === "union") r.fail(node, path, 'tokenizer_source "union" is not supported by bitsmith; use "base" or a model path');
  return text === "base" ? { kind: "base" } : { kind: "model", model: text };
}

/** mergekit's acceptance rule for a template given as text; "auto" is resolved when the models are open. */
function chatTemplate(r: ConfigReader, node: YamlNode, path: string): string {
  const text = r.string(node, path);
  if (text === "auto") return text;
  if (NAMED_TEMPLATES.includes(text)) {
    r.fail(node, path, `mergekit's built-in template "${text}" is not bundled with bitsmith; give the Jinja template text, or "auto"`);
  }
  if (text.length < 20 || !text.includes("{")) r.fail(node, path, `is not a chat template (Jinja text, or "auto"): ${JSON.stringify(text)}`);
  return text;
}

/** Parses a mergekit YAML configuration; `file` names it in errors. */
export function parseMergeConfig(text: string, file: string): MergeConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    // The message ends with " at line L, column C:" and a source excerpt; the position goes in the field.
    const message = e.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new BitsmithError(`YAML syntax error: ${message}`, { file, field: pos ? `line ${pos.line}, column ${pos.col}` : undefined });
  }
  const r: ConfigReader = new ConfigReader(file, lines);
  const top = r.map(doc.contents, "", TOP_KEYS);
  const methodEntry = top.get("merge_method");
  if (!methodEntry) r.fail(doc.contents, "merge_method", "is missing");
  const methodName = r.string(methodEntry.value, "merge_method");
  const pos = methodEntry.value?.range ? lines.linePos(methodEntry.value.range[0]) : undefined;
  const method = getMergeMethod(methodName, { file, field: `merge_method${pos ? ` (line ${pos.line}, column ${pos.col})` : ""}` });

  if (!top.has("models") === !top.has("slices")) r.fail(doc.contents, "models", 'give exactly one of "models" and "slices"');
  /** A key's value node; a key written with no value (null) counts as absent, as in mergekit. */
  const given = (key: string): Node | undefined => {
    const v = top.get(key)?.value;
    return v === null || v === undefined || (isScalar(v) && v.value === null) ? undefined : v;
  };
  const optional = <T>(key: string, read: (node: Node, path: string) => T) => {
    const node = given(key);
    return node === undefined ? undefined : read(node, key);
  };
  const config: MergeConfig = {
    mergeMethod: method.name,
    models: optional("models", (n, p) => r.seq(n, p).map((m, i) => inputModel(r, m, `${p}[${i}]`, method))),
    slices: optional("slices", (n, p) => r.seq(n, p).map((s, i) => outputSlice(r, s, `${p}[${i}]`, method))),
    baseModel: optional("base_model", (n, p) => r.string(n, p)),
    parameters: parameters(r, given("parameters"), "parameters", method, "merge"),
    dtype: optional("dtype", (n, p) => dtype(r, n, p)),
    outDtype: optional("out_dtype", (n, p) => dtype(r, n, p)),
    tokenizerSource: optional("tokenizer_source", (n, p) => tokenizerSource(r, n, p)),
    chatTemplate: optional("chat_template", (n, p) => chatTemplate(r, n, p)),
  };
  return config;
}
