/**
 * Imports every codec module so each registers itself; import this (or convert.ts) before getCodec().
 * One line per codec module.
 */
import "./float.js";
import "./legacy.js";
import "./kquants.js";
import "./iq4.js";
import "./iq2.js";
import "./iq3.js";
import "./iq1.js";
import "./fp4.js";
import "./ternary.js";
import "./q1q2.js";

export * from "./codec.js";
export * from "./registry.js";
