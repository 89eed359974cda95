import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";
import { roundTripFailures } from "./round-trip.js";

const TYPES = ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"];

test("legacy quants match ggml_quantize_chunk and to_float on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(failingEntries(TYPES), []);
});

test("legacy quants: dequantize(quantize(x)) stays within half a step of the block scale", () => {
  assert.deepEqual(roundTripFailures(TYPES), []);
});
