/** Where the shared test data lives: ../shared/data beside the repository (tests run from the repo root). */
import * as path from "node:path";
import { existsSync } from "node:fs";

export const SHARED_DATA = process.env.BITSMITH_SHARED_DATA ?? path.resolve(process.cwd(), "../shared/data");
export const REFERENCE = path.join(SHARED_DATA, "reference");
export const FIXTURES = path.join(SHARED_DATA, "fixtures");
export const hasSharedData = existsSync(REFERENCE);
