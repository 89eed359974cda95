/** task_arithmetic (Ilharco et al., arXiv:2212.04089): base + lambda · Σ weight · (model - base). */
import { taskArithmeticMethod } from "./generalized-task-arithmetic.js";

export const taskArithmetic = taskArithmeticMethod({
  name: "task_arithmetic",
  summary: "base + lambda * sum of weighted task vectors",
  signConsensus: false,
  defaultNormalize: false,
  defaultRescale: false,
});
