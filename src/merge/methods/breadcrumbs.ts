/**
 * Model Breadcrumbs (Davari & Belilovsky, arXiv:2312.06795): each task vector loses its `gamma` fraction of
 * largest magnitudes (outliers) and its smallest, keeping `density`; then summed (breadcrumbs) or sign-elected
 * (breadcrumbs_ties).
 */
import { taskArithmeticMethod } from "./generalized-task-arithmetic.js";

export const breadcrumbs = taskArithmeticMethod({
  name: "breadcrumbs",
  summary: "drop the largest and smallest task-vector values, then a weighted sum",
  signConsensus: false,
  sparsification: "magnitude_outliers",
  defaultNormalize: false,
  defaultRescale: false,
});

export const breadcrumbsTies = taskArithmeticMethod({
  name: "breadcrumbs_ties",
  summary: "drop the largest and smallest task-vector values, then TIES sign election",
  signConsensus: true,
  sparsification: "magnitude_outliers",
  defaultNormalize: false,
  defaultRescale: false,
});
