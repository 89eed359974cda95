/**
 * Special tokens, add-BOS/EOS flags and the chat template of a Hugging Face tokenizer, decided the way llama.cpp's
 * gguf-py SpecialVocab does: tokenizer.json's post-processor and added tokens, then tokenizer_config.json, then
 * config.json's *_token_id for what is still unset.
 */
import { BitsmithError } from "../../core/index.js";
import type { TokenizerInfo } from "../../core/index.js";
import { isJsonObject } from "./json-file.js";
import type { JsonObject } from "./json-file.js";

/** A parsed JSON file and its path, for messages. */
export interface NamedJson {
  path: string;
  json: JsonObject;
}

export interface SpecialVocabInputs {
  tokenizerJson?: NamedJson;
  tokenizerConfig?: NamedJson;
  config?: NamedJson;
  /** chat_template.jinja, which llama.cpp prefers to chat_template.json when tokenizer_config.json has none. */
  chatTemplateJinja?: string;
  chatTemplateJson?: NamedJson;
  /** Ids at or above this are ignored (llama.cpp warns and skips them). */
  nVocab?: number;
}

type SpecialType = "bos" | "eos" | "unk" | "sep" | "pad" | "cls" | "mask" | "eot";
const DEFAULT_TYPES: readonly SpecialType[] = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];
/** The add_*_token flags llama.cpp's GGUF writer has keys for; it skips the others. */
const ADD_FLAGS = ["bos", "eos", "sep"] as const;
type AddFlag = (typeof ADD_FLAGS)[number];

export interface SpecialVocab {
  /** Special token ids in the order llama.cpp sets them (the order it writes the keys in). */
  ids: Map<SpecialType, number>;
  add: Map<AddFlag, boolean>;
  chatTemplate?: string;
}

const specialTokenId = (entry: unknown): unknown => (isJsonObject(entry) && isJsonObject(entry.SpecialToken) ? entry.SpecialToken.id : undefined);
const sequenceId = (entry: unknown): unknown => (isJsonObject(entry) && isJsonObject(entry.Sequence) ? entry.Sequence.id : undefined);
const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

class SpecialVocabBuilder {
  readonly ids = new Map<SpecialType, number>();
  readonly add = new Map<AddFlag | string, boolean>();
  types: SpecialType[] = [...DEFAULT_TYPES];

  constructor(private readonly nVocab: number | undefined) {}

  /** llama.cpp's _set_special_token: non-integers are ignored, the first value set wins, out-of-range ids are skipped. */
  setSpecial(type: SpecialType, id: unknown, file: string, field: string): void {
    if (typeof id !== "number" || !Number.isInteger(id)) return;
    if (id < 0) throw new BitsmithError(`invalid value ${id} for special token type ${type}`, { file, field });
    if (this.nVocab !== undefined && id >= this.nVocab) return;
    if (!this.ids.has(type)) this.ids.set(type, id);
  }
}

/**
 * What the post-processor says about added special tokens (Roberta: BOS, EOS and SEP; a TemplateProcessing: the
 * tokens around the single-sequence template, and a separator between pair sequences). Like llama.cpp this can
 * rename tokenizer_config's eos_token (to the template's trailing token, keeping the old one as EOT).
 */
function readPostProcessor(b: SpecialVocabBuilder, tokenizer: JsonObject, tc: JsonObject | undefined): void {
  let bos = tc?.bos_token;
  let eos = tc?.eos_token;
  let cls = tc?.cls_token;
  let sep = tc?.sep_token;
  if (!bos && cls && tc) tc.bos_token = bos = cls;
  if (!eos && sep && tc) tc.eos_token = eos = sep;
  const pp = tokenizer.post_processor;
  if (!isJsonObject(pp)) return;
  for (const processor of Array.isArray(pp.processors) ? pp.processors : [pp]) {
    if (!isJsonObject(processor)) continue;
    if (processor.type === "RobertaProcessing") {
      b.add.set("bos", true).set("eos", true).set("sep", true);
      if (!cls && tc) tc.cls_token = cls = asArray(processor.cls)[0] ?? bos;
      if (!sep && tc) tc.sep_token = sep = asArray(processor.sep)[0] ?? eos;
      continue;
    }
    if (processor.type !== "TemplateProcessing") continue;
    const single = asArray(processor.single);
    let pair = asArray(processor.pair);
    let first: unknown;
    let last: unknown;
    if (single.length > 1) {
      first = specialTokenId(single[0]);
      if (first) {
        if (!tc) bos = first;
        b.add.set("bos", first === bos || first === cls);
      }
      last = specialTokenId(single[single.length - 1]);
      if (last) {
        if (!tc) eos = last;
        else if (last !== eos) {
          if (!b.types.includes("eot")) {
            b.types.push("eot");
            tc.eot_token = eos;
          }
          tc.eos_token = eos = last;
        }
        b.add.set("eos", last === eos);
      }
    }
    if (pair.length === 0) continue;
    const start = first && specialTokenId(pair[0]) === first ? 1 : 0;
    const stop = last && specialTokenId(pair[pair.length - 1]) === last ? pair.length - 1 : pair.length;
    pair = pair.slice(start, stop);
    if (pair.length === 0 || sequenceId(pair[0]) !== "A" || sequenceId(pair[pair.length - 1]) !== "B") continue;
    const middle = pair.slice(1, -1);
    if (middle.length === 0) continue;
    let addSep = false;
    const entry = specialTokenId(middle[0]);
    if (entry && (entry === sep || entry === eos) && !last) addSep = true;
    if (middle.length === 2) {
      const second = specialTokenId(middle[1]);
      if (second && (second === sep || second === eos)) addSep = true;
    }
    b.add.set("sep", addSep);
    if (addSep && !sep && tc) tc.sep_token = eos;
  }
}

/** The chat template: tokenizer_config.json's, else chat_template.jinja's, else chat_template.json's. */
function chatTemplateOf(tc: JsonObject, inputs: SpecialVocabInputs, file: string): string | undefined {
  // As Python's dict.get(key, default): a chat_template key holding null means none, not "look elsewhere".
  const template = "chat_template" in tc ? tc.chat_template : (inputs.chatTemplateJinja ?? inputs.chatTemplateJson?.json.chat_template);
  if (template === undefined || template === null || typeof template === "string") return template ?? undefined;
  // A list of named templates: llama.cpp writes each; bitsmith's TokenizerInfo keeps the default one.
  if (Array.isArray(template)) {
    const entry = template.find((t) => isJsonObject(t) && t.name === "default");
    if (isJsonObject(entry) && typeof entry.template === "string") return entry.template;
    return undefined;
  }
  throw new BitsmithError(`must be a string or a list of named templates, got ${JSON.stringify(template)}`, { file, field: "chat_template" });
}

export function readSpecialVocab(inputs: SpecialVocabInputs): SpecialVocab {
  const b = new SpecialVocabBuilder(inputs.nVocab);
  // Work on a copy: the post-processor rules rewrite tokenizer_config entries, as llama.cpp does in memory. An empty
  // tokenizer_config.json is falsy in llama.cpp's Python and so counts as none.
  const tcJson = inputs.tokenizerConfig?.json;
  const tc = tcJson && Object.keys(tcJson).length > 0 ? { ...tcJson } : undefined;
  const tokenizer = inputs.tokenizerJson?.json;
  const addedTokens = asArray(tokenizer?.added_tokens).filter(isJsonObject);
  if (tokenizer) readPostProcessor(b, tokenizer, tc);

  let chatTemplate: string | undefined;
  if (tc) {
    const tcFile = inputs.tokenizerConfig!.path;
    chatTemplate = chatTemplateOf(tc, inputs, tcFile);
    for (const type of b.types) {
      const addEntry = tc[`add_${type}_token`];
      if (typeof addEntry === "boolean") b.add.set(type, addEntry);
      const entry = tc[`${type}_token`];
      const content = typeof entry === "string" ? entry : isJsonObject(entry) && typeof entry.content === "string" ? entry.content : undefined;
      if (content === undefined) continue;
      // Looked up among tokenizer.json's added tokens only, as llama.cpp does.
      const id = addedTokens.find((t) => t.content === content)?.id;
      b.setSpecial(type, id, inputs.tokenizerJson?.path ?? tcFile, `added_tokens (${type}_token ${JSON.stringify(content)})`);
    }
  }
  if (inputs.config) {
    const config = inputs.config.json;
    for (const type of b.types) {
      const field = `${type}_token_id`;
      const textConfig = config.text_config;
      const id = config[field] ?? (isJsonObject(textConfig) ? textConfig[field] : undefined);
      b.setSpecial(type, id, inputs.config.path, field);
    }
  }
  const add = new Map<AddFlag, boolean>();
  for (const [flag, value] of b.add) if ((ADD_FLAGS as readonly string[]).includes(flag)) add.set(flag as AddFlag, value);
  const out: SpecialVocab = { ids: b.ids, add };
  if (chatTemplate !== undefined) out.chatTemplate = chatTemplate;
  return out;
}

const ID_FIELDS: Record<SpecialType, keyof TokenizerInfo> = {
  bos: "bosId",
  eos: "eosId",
  unk: "unkId",
  sep: "sepId",
  pad: "padId",
  cls: "clsId",
  mask: "maskId",
  eot: "eotId",
};
const ADD_FIELDS: Record<AddFlag, keyof TokenizerInfo> = { bos: "addBos", eos: "addEos", sep: "addSep" };

/** Copies a SpecialVocab into TokenizerInfo fields. */
export function applySpecialVocab(info: TokenizerInfo, sv: SpecialVocab): void {
  const target = info as unknown as Record<string, unknown>;
  for (const [type, id] of sv.ids) target[ID_FIELDS[type]] = id;
  for (const [flag, value] of sv.add) target[ADD_FIELDS[flag]] = value;
  if (sv.chatTemplate !== undefined) info.chatTemplate = sv.chatTemplate;
}
