/**
 * llama2.c tokenizer files (tokenizer.bin, tok512.bin ...): int32 max_token_length, then per token a float32
 * score, an int32 byte length and the token's bytes. They are turned into a vocabulary the way llama.cpp's
 * convert-llama2c-to-ggml does when given one with --copy-vocab-from-model, so the GGUF keys it writes can be
 * reproduced exactly.
 */
import { BitsmithError, NO_TOKEN_ID, TokenType, utf8KeepBom } from "../../core/index.js";
import type { ByteSource, TokenizerInfo } from "../../core/index.js";

/** The ids llama.cpp's converter assumes for every llama2.c vocabulary (SentencePiece's defaults). */
const UNKNOWN_ID = 0;
const BOS_ID = 1;
const EOS_ID = 2;

/**
 * What the converter's `sscanf(text, "<0x%02hhX>", ...) == 1` accepts: "<0x", then (after optional C
 * whitespace and sign) at least one hex digit. The closing ">" is not checked, as in llama.cpp.
 */
const BYTE_TOKEN = /^<0x[ \t\n\v\f\r]*[+-]?[0-9A-Fa-f]/;

function tokenType(id: number, text: string): TokenType {
  if (id === UNKNOWN_ID) return TokenType.Unknown;
  if (id === BOS_ID || id === EOS_ID) return TokenType.Control;
  if (text === "") return TokenType.Control;
  if (BYTE_TOKEN.test(text)) return TokenType.Byte;
  return TokenType.Normal;
}

/**
 * Reads the first `vocabSize` tokens (the checkpoint's vocab_size) of a llama2.c tokenizer file. As llama.cpp does:
 * ids 0, 1, 2 become `<unk>` (unknown), `<s>` and `</s>` (control) whatever the file stores (llama2.c stores
 * "\n<s>\n" and "\n</s>\n"); an empty token is control; `<0xNN>` is a byte token; every space becomes U+2581;
 * scores are copied bit for bit. Separator and padding ids are written as LLAMA_TOKEN_NULL.
 */
export async function readLlama2cTokenizer(source: ByteSource, vocabSize: number): Promise<TokenizerInfo> {
  const file = source.name;
  const bytes = await source.read(0, source.size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) throw new BitsmithError(`file is ${bytes.length} bytes, too small for the max_token_length header`, { file, field: "max_token_length" });

  const tokens: string[] = [];
  const scores = new Float32Array(vocabSize);
  const tokenTypes = new Int32Array(vocabSize);
  let at = 4; // max_token_length is not needed (llama.cpp ignores it too)
  for (let id = 0; id < vocabSize; id++) {
    const field = `token ${id}`;
    if (at + 8 > bytes.length) {
      throw new BitsmithError(`file ends at byte ${bytes.length} after ${id} tokens; the model's vocab_size is ${vocabSize}`, { file, field });
    }
    const score = view.getFloat32(at, true);
    const length = view.getUint32(at + 4, true);
    at += 8;
    if (length > bytes.length - at) throw new BitsmithError(`length ${length} runs past the end of the file (${bytes.length - at} bytes left)`, { file, field });
    let text: string;
    try {
      text = utf8KeepBom.decode(bytes.subarray(at, at + length));
    } catch {
      throw new BitsmithError("is not valid UTF-8, which a GGUF token string must be", { file, field });
    }
    at += length;
    const type = tokenType(id, text);
    if (id === UNKNOWN_ID) text = "<unk>";
    else if (id === BOS_ID) text = "<s>";
    else if (id === EOS_ID) text = "</s>";
    tokens.push(text.replaceAll(" ", "\u2581"));
    scores[id] = score;
    tokenTypes[id] = type;
  }
  if (at !== bytes.length) {
    // llama.cpp would ignore the rest; more tokens than the model has almost always means the wrong tokenizer file.
    throw new BitsmithError(`${bytes.length - at} bytes follow the ${vocabSize} tokens the model's vocab_size asks for: the tokenizer does not belong to this model`, { file, field: "vocab_size" });
  }
  return {
    model: "llama",
    tokens,
    scores,
    tokenTypes,
    unkId: UNKNOWN_ID,
    bosId: BOS_ID,
    eosId: EOS_ID,
    sepId: NO_TOKEN_ID,
    padId: NO_TOKEN_ID,
  };
}
