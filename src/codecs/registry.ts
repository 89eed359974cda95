/**
 * The codec registry: a plain map from type name to codec. Adding a codec is adding a module and one line here.
 */
import { BitsmithError, tensorType } from "../core/index.js";
import type { Codec } from "./codec.js";

const codecs = new Map<string, Codec>();

export function registerCodec(codec: Codec): void {
  codecs.set(codec.type.name, codec);
}

export function getCodec(typeName: string): Codec | undefined {
  return codecs.get(typeName.toUpperCase());
}

/** The codec for a type, or an error listing the types that have one. */
export function requireCodec(typeName: string): Codec {
  const c = getCodec(typeName);
  if (!c) {
    const known = tensorType(typeName) ? `no codec for type ${typeName.toUpperCase()} yet` : `unknown type ${typeName}`;
    throw new BitsmithError(`${known}; available: ${[...codecs.keys()].join(", ")}`);
  }
  return c;
}

export function listCodecs(): Codec[] {
  return [...codecs.values()];
}
