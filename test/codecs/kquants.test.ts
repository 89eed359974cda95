import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";
import { roundTripFailures } from "./round-trip.js";

const TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"];

test("k-quants match ggml_quantize_chunk and to_float on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(failingEntries(TYPES), []);
});

test("k-quants: dequantize(quantize(x)) stays within the sub-block step", () => {
  assert.deepEqual(roundTripFailures(TYPES), []);
});
