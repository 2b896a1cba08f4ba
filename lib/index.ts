export { CrossEncoder } from './cross-encoder.js';
export type {
  Activation,
  Device,
  LoadOptions,
  ModelInfo,
  PredictOptions,
  RerankOptions,
  RerankResult,
} from './cross-encoder.js';
export { CrossrankError } from './errors.js';
export type { ErrorCode } from './errors.js';
