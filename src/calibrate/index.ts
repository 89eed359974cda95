/** Calibration data and the activation statistics calibration-based methods collect. */
export {
  parseCalibrationFile,
  calibrationTokens,
  sampleCalibrationWindows,
  DEFAULT_CALIBRATION_SAMPLES,
  DEFAULT_CALIBRATION_SEQLEN,
  DEFAULT_CALIBRATION_SEED,
} from "./calibration-data.js";
export type { CalibrationDocument, CalibrationSampling } from "./calibration-data.js";
export { renderChat, chatTemplateOf } from "./chat-template.js";
export type { ChatMessage, ChatTemplateContext } from "./chat-template.js";
export { HessianAccumulator, ChannelStats } from "./activation-stats.js";
