import { test } from "node:test";
import assert from "node:assert/strict";
import { hasSharedData } from "../helpers/paths.js";
import { failingEntries } from "./reference-vectors.js";

for (const type of ["IQ3_XXS", "IQ3_S", "IQ2_XXS", "IQ2_XS", "IQ2_S"]) {
  test(`${type} matches ggml_quantize_chunk and to_float on the reference vectors`, { skip: !hasSharedData }, () => {
    assert.deepEqual(failingEntries([type]), []);
  });
}
