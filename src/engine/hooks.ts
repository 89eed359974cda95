/**
 * Observation points of a forward pass, for calibration statistics (imatrix sums of squares, GPTQ Hessians,
 * AWQ channel magnitudes) and for inspecting a model.
 *
 * Activations are passed as the engine's own buffers, row-major [rows × cols], one row per token, the tokens
 * of all sequences of the call stacked in order. Read them during the call (or copy what you keep); never
 * write to them. A hook may return a promise; the forward pass waits for it.
 */
export interface ForwardHooks {
  /**
   * The input of a linear layer, just before its matmul. `name` is the GGUF name of the weight
   * (`blk.3.attn_q.weight`, `blk.3.ffn_down.weight`, `output.weight`). Layers that share an input get one call
   * each with the same buffer (attn_q/attn_k/attn_v; ffn_gate/ffn_up), as llama.cpp's imatrix sees them.
   * For `output.weight` the rows are only the positions whose logits were requested (none with logits "none").
   */
  onLinearInput?(name: string, x: Float32Array, rows: number, cols: number): void | Promise<void>;
  /** The residual stream [rows × hidden] after block `layer` (attention and MLP added). */
  onBlockOutput?(layer: number, h: Float32Array, rows: number, cols: number): void | Promise<void>;
}
