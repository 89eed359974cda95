/** The merge methods bitsmith knows, by mergekit's names. */
import { BitsmithError } from "../../core/index.js";
import { breadcrumbs, breadcrumbsTies } from "./breadcrumbs.js";
import { dareLinear, dareTies } from "./dare.js";
import { linear } from "./linear.js";
import type { MergeMethod } from "./method.js";
import { modelStock } from "./model-stock.js";
import { passthrough } from "./passthrough.js";
import { slerp } from "./slerp.js";
import { taskArithmetic } from "./task-arithmetic.js";
import { ties } from "./ties.js";

export const MERGE_METHODS: ReadonlyMap<string, MergeMethod> = new Map(
  [linear, taskArithmetic, ties, dareLinear, dareTies, breadcrumbs, breadcrumbsTies, slerp, modelStock, passthrough].map((m) => [m.name, m]),
);

/** mergekit methods bitsmith does not implement, so the error can say so rather than "unknown". */
const NOT_IMPLEMENTED = ["della", "della_linear", "nuslerp", "multislerp", "karcher", "arcee_fusion", "sce", "nearswap", "ram"];

export function getMergeMethod(name: string, where: { file?: string; field?: string } = {}): MergeMethod {
  const method = MERGE_METHODS.get(name);
  if (method) return method;
  const known = [...MERGE_METHODS.keys()].join(", ");
  const why = NOT_IMPLEMENTED.includes(name) ? `mergekit's "${name}" is not implemented in bitsmith` : `unknown merge method "${name}"`;
  throw new BitsmithError(`${why}; available: ${known}`, where);
}
