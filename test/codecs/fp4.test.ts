import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";
import { roundTripFailures } from "./round-trip.js";

const TYPES = ["MXFP4", "NVFP4"];

test("MXFP4 and NVFP4 match ggml_quantize_chunk and to_float on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(failingEntries(TYPES), []);
});

test("MXFP4 and NVFP4: dequantize(quantize(x)) stays within a step", () => {
  assert.deepEqual(roundTripFailures(TYPES), []);
});
