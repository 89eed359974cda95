/** What the engine and the evaluator need from a tokenizer, whichever implementation is behind it. */

export interface EncodeOptions {
  /**
   * Add the BOS/EOS tokens the vocabulary asks for (llama_tokenize's add_special; llama-perplexity passes true).
   * Default true: whether anything is added is then the vocabulary's add_bos/add_eos.
   */
  addSpecial?: boolean;
  /** Turn the text of control tokens in the input into those tokens (parse_special). Default false. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop a leading BOS and trailing EOS that the vocabulary adds (remove_special). Default false. */
  removeSpecial?: boolean;
  /**
   * Render control tokens as their text (unparse_special). Default true, as llama.cpp's common_detokenize and
   * common_token_to_piece do; false renders them as nothing.
   */
  unparseSpecial?: boolean;
}

export interface Tokenizer {
  /** Number of token ids (the embedding's row count for the models this tokenizer belongs to). */
  readonly vocabSize: number;
  /** Special tokens; undefined when the vocabulary has none. */
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly eotId: number | undefined;
  readonly padId: number | undefined;
  /** Whether encode() with addSpecial adds BOS / EOS. */
  readonly addBos: boolean;
  readonly addEos: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  /** Token ids to text; invalid UTF-8 in the joined pieces becomes U+FFFD. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** One token's text (`special`: render control tokens, default true). A lone byte token decodes to U+FFFD. */
  tokenToPiece(id: number, options?: { special?: boolean }): string;
  /** True for tokens that end generation (EOS, EOT, <|im_end|>, ...). */
  isEog(id: number): boolean;
}
