/**
 * ties (Yadav et al., arXiv:2306.01708): task vectors trimmed to their `density` largest magnitudes, signs
 * elected per element by the sum of the weighted deltas, agreeing deltas averaged by their weights.
 */
import { taskArithmeticMethod } from "./generalized-task-arithmetic.js";

export const ties = taskArithmeticMethod({
  name: "ties",
  summary: "trim task vectors by magnitude, elect signs, average the agreeing ones",
  signConsensus: true,
  sparsification: "magnitude",
  defaultNormalize: true,
  defaultRescale: false,
});
