/**
 * Rendering a chat with the model's own chat template (a Jinja template, tokenizer.chat_template), as
 * transformers' apply_chat_template does for training-style data: every message, no generation prompt.
 */
import { Template } from "@huggingface/jinja";
import { BitsmithError } from "../core/index.js";
import type { TokenizerInfo } from "../core/index.js";

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

export interface ChatTemplateContext {
  readonly template: string;
  readonly bosToken?: string;
  readonly eosToken?: string;
}

/** The chat template context of a vocabulary, or undefined when it has no template. */
export function chatTemplateOf(t: TokenizerInfo | undefined): ChatTemplateContext | undefined {
  if (!t?.chatTemplate) return undefined;
  const piece = (id: number | undefined) => (id !== undefined && id < t.tokens.length ? t.tokens[id] : undefined);
  return { template: t.chatTemplate, bosToken: piece(t.bosId), eosToken: piece(t.eosId) };
}

export function renderChat(chat: ChatTemplateContext, messages: readonly ChatMessage[]): string {
  let template: Template;
  try {
    template = new Template(chat.template);
  } catch (e) {
    throw new BitsmithError(`cannot be parsed: ${(e as Error).message}`, { field: "tokenizer.chat_template" });
  }
  try {
    return template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: chat.bosToken ?? "",
      eos_token: chat.eosToken ?? "",
      add_generation_prompt: false,
    });
  } catch (e) {
    throw new BitsmithError(`failed to render the calibration chat: ${(e as Error).message}`, { field: "tokenizer.chat_template" });
  }
}
