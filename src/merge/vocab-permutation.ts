/**
 * Embedding rows moved into the output vocabulary (tokenizer_source), as mergekit's PermutedEmbeddings does:
 * row i of every model's permuted matrix is that model's row for output token i (matched by token text);
 * for a token the model lacks, a stand-in: the row of the only model that has it, else the base model's row,
 * else the mean of the rows of the models that have it, else zeros. Rows the output vocabulary does not
 * name (padding) are dropped, so every permuted matrix has exactly one row per output token.
 */

/** For each output token id, the row of the model's matrix holding that token, or -1. */
export function vocabularyPermutation(outputTokens: readonly string[], modelTokens: readonly string[], rows: number): Int32Array {
  const rowOf = new Map<string, number>();
  for (let i = 0; i < Math.min(rows, modelTokens.length); i++) if (!rowOf.has(modelTokens[i]!)) rowOf.set(modelTokens[i]!, i);
  return Int32Array.from(outputTokens, (t) => rowOf.get(t) ?? -1);
}

export interface EmbeddingToPermute {
  /** [rows][width] values. */
  readonly values: Float32Array;
  readonly permutation: Int32Array;
  readonly isBase: boolean;
}

/** Every input's matrix in the output vocabulary: [permutation.length][width] each. */
export function permuteEmbeddings(inputs: readonly EmbeddingToPermute[], width: number): Float32Array[] {
  const vocab = inputs[0]!.permutation.length;
  const out = inputs.map(() => new Float32Array(vocab * width));
  const row = (k: number, r: number) => inputs[k]!.values.subarray(r * width, (r + 1) * width);
  const baseIndex = inputs.findIndex((i) => i.isBase);
  for (let id = 0; id < vocab; id++) {
    const present = inputs.map((inp) => inp.permutation[id]!).map((r, k) => (r >= 0 ? k : -1)).filter((k) => k >= 0);
    let standIn: Float32Array | undefined;
    if (present.length < inputs.length) {
      if (present.length === 1) standIn = row(present[0]!, inputs[present[0]!]!.permutation[id]!);
      else if (present.length > 0 && baseIndex >= 0 && present.includes(baseIndex)) standIn = row(baseIndex, inputs[baseIndex]!.permutation[id]!);
      else if (present.length > 0) {
        standIn = new Float32Array(width);
        for (const k of present) {
          const r = row(k, inputs[k]!.permutation[id]!);
          for (let j = 0; j < width; j++) standIn[j] = standIn[j]! + r[j]!;
        }
        for (let j = 0; j < width; j++) standIn[j] = standIn[j]! / present.length;
      }
    }
    for (let k = 0; k < inputs.length; k++) {
      const r = inputs[k]!.permutation[id]!;
      const src = r >= 0 ? row(k, r) : standIn;
      if (src) out[k]!.set(src, id * width);
    }
  }
  return out;
}
