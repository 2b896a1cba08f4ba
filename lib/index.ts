/**
 * `crossrank`: load a cross-encoder (`CrossEncoder.load`), score pairs (`predict`), rerank
 * documents (`rerank`); BEIR evaluation with trec_eval's metrics; the hub resolution and file
 * choice that `load` uses. Every failure is a `CrossrankError` with a stable `code`.
 * The manual: docs/README.md.
 *
 * @packageDocumentation
 * @module crossrank
 */
export { CrossEncoder } from './cross-encoder.js';
export type {
  Activation,
  ChunkInfo,
  ChunkingOptions,
  Device,
  LoadOptions,
  LlmGraph,
  LlmInfo,
  LogLevel,
  ModelInfo,
  Precision,
  PrecisionChoice,
  PrecisionOption,
  PredictOptions,
  RerankOptions,
  RerankResult,
} from './cross-encoder.js';
export type { ModelStats } from './types.js';
export type { ModelKind } from './model/families.js';
export { CrossrankError } from './errors.js';
export type { ErrorCode } from './errors.js';
export { evaluate } from './eval/evaluate.js';
export type { EvaluateOptions, EvaluateReport } from './eval/evaluate.js';
export { evaluateRun, queryMetrics, trecOrder } from './eval/metrics.js';
export type { MetricsReport, QueryMetrics, Qrels, Run } from './eval/metrics.js';
export { parseTrecRun, readQrels, readTrecRun } from './eval/beir.js';
export { resolveHubModel, SIDE_FILES } from './hub/resolve.js';
export type { DownloadProgress, HubModel, ResolveOptions } from './hub/resolve.js';
export { hubSettings, parseModelRef } from './hub/settings.js';
export type { HubRef, HubSettings } from './hub/settings.js';
export { chooseModelFile, cpuFeatures, modelFileCandidates } from './hub/choose.js';
export type { CpuFeatures, FileDevice, FilePrecision } from './hub/choose.js';
export { INT8_PAYS, choosePrecision } from './hub/precision.js';
export type { ModelShape, PrecisionDecision, PrecisionInputs } from './hub/precision.js';
