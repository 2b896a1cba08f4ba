// Prometheus metrics for `crossrank serve`, named as text-embeddings-inference (TEI) names them
// where a metric means the same thing (router/src/prometheus.rs and the te_* counters of TEI's
// router and core), so TEI dashboards keep working. One Registry per server: several servers in
// one process (tests, apps that mount two) never share counters.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import type { CrossEncoder } from '../cross-encoder.js';

/** TEI's duration buckets: 35 steps of a geometric sequence from 1.5e-5 s, factor 1.5. */
const DURATION_BUCKETS = Array.from({ length: 35 }, (_, i) => 1e-5 * 1.5 ** (i + 1));
/** TEI's input length buckets (powers of two up to the model's limit). */
const lengthBuckets = (max: number): number[] => Array.from({ length: 20 }, (_, i) => 2 ** i).filter((x) => x <= max);

/** Why a request failed, as the `err` label of te_request_failure (TEI's reasons plus crossrank's). */
export type FailureReason =
  | 'validation'
  | 'batch_size'
  | 'model_type'
  | 'overloaded'
  | 'tokenization'
  | 'inference'
  | 'timeout'
  | 'cancelled'
  | 'closed'
  | 'unauthorized';

/** The Prometheus metrics of `crossrank serve`, under TEI's names (router/src/http/server.rs). */
export interface ServeMetrics {
  /** The prom-client registry /metrics renders (with Node's default process metrics). */
  registry: Registry;
  /** te_request_count{method}: requests received. */
  requestCount: Counter<'method'>;
  /** te_request_success{method}: requests answered with 200. */
  requestSuccess: Counter<'method'>;
  /** te_request_failure{err}: requests that failed, by FailureReason. */
  requestFailure: Counter<'err'>;
  /** te_request_duration: seconds from arrival to answer. */
  requestDuration: Histogram;
  /** te_request_queue_duration: seconds from arrival to the library call. */
  queueDuration: Histogram;
  /** te_request_inference_duration: seconds inside the library call (its queue, tokenization and runs). */
  inferenceDuration: Histogram;
  /** te_request_tokenization_duration: seconds spent counting tokens (Jina usage, --count-tokens). */
  tokenizationDuration: Histogram;
  /** te_request_input_length: tokens per pair as the model sees them (only when the server counts tokens). */
  inputLength: Histogram;
  /** Pairs handed to the library and not yet answered, across all models. */
  queueSize: Gauge;
}

/**
 * Builds the registry. The library's own counters (CrossEncoder.stats(): pairs, batches, real
 * and padded tokens) are read at scrape time into crossrank_* metrics per model; TEI's per-batch
 * histograms (te_batch_next_size, te_batch_next_tokens) have no equivalent because stats() gives
 * totals, so crossrank_batch_pairs_total / crossrank_batches_total is the mean batch size instead.
 */
export function createMetrics(models: ReadonlyArray<{ name: string; model: CrossEncoder }>, maxInputLength: number): ServeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requestCount = new Counter({ name: 'te_request_count', help: 'Requests received', labelNames: ['method'], registers: [registry] });
  const requestSuccess = new Counter({ name: 'te_request_success', help: 'Requests answered with 200', labelNames: ['method'], registers: [registry] });
  const requestFailure = new Counter({ name: 'te_request_failure', help: 'Requests that failed, by reason', labelNames: ['err'], registers: [registry] });
  const histogram = (name: string, help: string): Histogram =>
    new Histogram({ name, help, buckets: DURATION_BUCKETS, registers: [registry] });
  const requestDuration = histogram('te_request_duration', 'Request duration in seconds, arrival to answer');
  const queueDuration = histogram('te_request_queue_duration', 'Seconds from arrival to the library call (parsing, validation, waiting for auto-split slots)');
  const inferenceDuration = histogram('te_request_inference_duration', "Seconds inside the library call: its queue, tokenization and model runs together");
  const tokenizationDuration = histogram('te_request_tokenization_duration', 'Seconds spent counting tokens (only when the server counts them: Jina usage or --count-tokens)');
  const inputLength = new Histogram({
    name: 'te_request_input_length',
    help: 'Tokens per pair as the model sees them (only when the server counts tokens)',
    buckets: lengthBuckets(maxInputLength),
    registers: [registry],
  });
  const queueSize = new Gauge({ name: 'te_queue_size', help: 'Pairs submitted to the model and not yet scored', registers: [registry] });

  const perModel = (name: string, help: string, read: (s: ReturnType<CrossEncoder['stats']>) => number): void => {
    new Gauge({
      name,
      help,
      labelNames: ['model'],
      registers: [registry],
      collect() {
        for (const entry of models) {
          if (entry.model.closed) continue;
          this.set({ model: entry.name }, read(entry.model.stats()));
        }
      },
    });
  };
  perModel('crossrank_pairs_total', 'Pairs scored since load', (s) => s.pairs);
  perModel('crossrank_batches_total', 'Model runs since load', (s) => s.batches);
  perModel('crossrank_tokens_total', 'Real tokens in the scored pairs', (s) => s.tokens);
  perModel('crossrank_padded_tokens_total', 'Positions computed (rows x longest row per batch)', (s) => s.paddedTokens);
  perModel('crossrank_padding_share', 'Share of computed positions that were padding: 1 - tokens / padded tokens', (s) =>
    s.paddedTokens > 0 ? 1 - s.tokens / s.paddedTokens : 0,
  );
  perModel('crossrank_batch_size_mean', 'Mean pairs per model run since load', (s) => (s.batches > 0 ? s.pairs / s.batches : 0));
  return {
    registry,
    requestCount,
    requestSuccess,
    requestFailure,
    requestDuration,
    queueDuration,
    inferenceDuration,
    tokenizationDuration,
    inputLength,
    queueSize,
  };
}
