import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";
import { roundTripFailures } from "./round-trip.js";

test("MXFP4, NVFP4, TQ1_0, TQ2_0, Q1_0, Q2_0 match ggml_quantize_chunk and to_float on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(failingEntries(["MXFP4", "NVFP4", "TQ1_0", "TQ2_0", "Q1_0", "Q2_0"]), []);
});

test("MXFP4, NVFP4, TQ1_0, TQ2_0, Q1_0, Q2_0: dequantize(quantize(x)) stays within a step", () => {
  assert.deepEqual(roundTripFailures(["MXFP4", "NVFP4", "TQ1_0", "TQ2_0", "Q1_0", "Q2_0"]), []);
});
