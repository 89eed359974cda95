import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";
import { roundTripFailures } from "./round-trip.js";

const TYPES = ["IQ4_NL", "IQ4_XS"];

test("IQ4_NL and IQ4_XS match ggml_quantize_chunk and to_float on the reference vectors", { skip: !hasSharedData }, () => {
  assert.deepEqual(failingEntries(TYPES), []);
});

test("IQ4_NL and IQ4_XS: dequantize(quantize(x)) stays within the table's widest step", () => {
  assert.deepEqual(roundTripFailures(TYPES), []);
});
