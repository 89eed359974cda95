/** Perplexity of stories260K-Q4_0 with llama-perplexity's protocol, -c 128 and -c 256 (see reference-perplexity.ts). */
import { test } from "node:test";
import { hasSharedData } from "../helpers/paths.js";
import { checkAgainstExact } from "./reference-perplexity.js";

test("stories260K-Q4_0 perplexity matches llama.cpp's exact f32 runs", { skip: !hasSharedData && "shared reference data not found" }, () => checkAgainstExact("Q4_0"));
