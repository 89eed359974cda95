/**
 * DARE (Yu et al., arXiv:2311.03099): each task-vector value is kept with probability `density` and the rest
 * rescaled to the original L1 norm; then summed (dare_linear) or sign-elected as TIES does (dare_ties).
 * The drops come from bitsmith's seeded generator, not torch's: the same seed gives the same merge, but the
 * masks differ from mergekit's.
 */
import { taskArithmeticMethod } from "./generalized-task-arithmetic.js";

export const dareLinear = taskArithmeticMethod({
  name: "dare_linear",
  summary: "random drops with rescaling, then a weighted sum of task vectors",
  signConsensus: false,
  sparsification: "random",
  defaultNormalize: false,
  defaultRescale: true,
});

export const dareTies = taskArithmeticMethod({
  name: "dare_ties",
  summary: "random drops with rescaling, then TIES sign election",
  signConsensus: true,
  sparsification: "random",
  defaultNormalize: false,
  defaultRescale: true,
});
