// `crossrank serve`: an HTTP reranking service that answers as text-embeddings-inference (TEI),
// Cohere's and Jina's rerank APIs do, so their clients work unchanged. Built on the public
// library API only: every request is one (or, with autoSplit, a few) CrossEncoder.rerank/predict
// calls, and the library's scheduler batches pairs across all concurrent requests. Nothing a
// client sends reaches a load option or a path: models are loaded before the server starts.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { Ajv } from 'ajv';
import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';

import type { CrossEncoder, ModelInfo } from '../cross-encoder.js';
import { CrossrankError } from '../errors.js';
import { packageRoot } from '../native.js';
import { type AbortCause, type ErrorType, HttpError, fromLibrary } from './errors.js';
import { type FailureReason, type ServeMetrics, createMetrics } from './metrics.js';
import {
  cohereV1Body,
  cohereV2Body,
  predictBody,
  teiRerankBody,
  type CohereV1Request,
  type CohereV2Request,
  type PredictRequest,
  type TeiRerankRequest,
  withoutNulls,
} from './schemas.js';

/** A loaded model the server answers with, under `name` (and any `aliases`) in requests' `model`. */
export interface ServedModel {
  /** The name requests' `model` field picks it by, and /info's served_model_name. */
  name: string;
  /** The loaded model; the caller owns it (the server never closes it). */
  model: CrossEncoder;
  /** Other names that pick it (e.g. the hub id when `name` is an alias). */
  aliases?: string[];
}

/** Settings shared by createServer() and the fastify plugin. Defaults in brackets. */
export interface ServeOptions {
  /** Models to serve; the first is the default unless defaultModel names another. */
  models: ServedModel[];
  /** Name of the model that answers requests naming none, or one not served (without strictModel) [the first]. */
  defaultModel?: string;
  /** Most texts/documents/inputs in one request [1024]; more answer 413 unless autoSplit. */
  maxClientBatchSize?: number;
  /** Score a request over maxClientBatchSize in chunks of that size instead of answering 413 [false]. */
  autoSplit?: boolean;
  /** Largest request body in bytes [2,000,000, TEI's]; larger answers 413. */
  payloadLimit?: number;
  /** Requests handled at once [512, TEI's]; more answer 429. */
  maxConcurrentRequests?: number;
  /** Milliseconds from arrival after which a request's queued work is cancelled and it answers 503 [0: none]. */
  requestTimeoutMs?: number;
  /** Bearer key every route except /health, /ping and /metrics requires; compared in constant time. */
  apiKey?: string;
  /**
   * Score a document longer than the model's limit by its best window of tokens, at most this
   * many windows (RerankOptions.chunking, MaxP) on every rerank route; Cohere v1's
   * max_chunks_per_doc overrides it per request [0: truncate, as TEI does].
   */
  maxChunksPerDoc?: number;
  /** Per-call maxBatchTokens handed to the library (see PredictOptions) [the library's device default]. */
  maxBatchTokens?: number;
  /** Count tokens of every request (x-compute-tokens, x-tokenization-time, te_request_input_length) [false]; Jina requests always do. */
  countTokens?: boolean;
  /** An unknown `model` answers 404 instead of using the default model [false]. */
  strictModel?: boolean;
  /** Threads tokenizing per model, reported by /info (LoadOptions.tokenizerThreads) [cores, at most 8]. */
  tokenizerThreads?: number;
  /** Instruction for LLM rerankers when a request names none [the model's own]; cross-encoders ignore it. */
  instruction?: string;
}

/** How drain() leaves a load balancer's rotation before it stops; see CrossrankServer.drain. */
export interface DrainOptions {
  /**
   * Milliseconds to keep serving after readiness (/health, /ready) turns 503 and before the
   * listener closes [0]. A balancer only stops sending once its checks have seen the 503 (HAProxy:
   * `inter` x `fall`; Kubernetes: the endpoint update after preStop), and a listener closed before
   * then turns its requests into socket errors. Answers carry `Connection: close` meanwhile.
   */
  delayMs?: number;
  /** Ends the delay early when aborted (a second SIGTERM/SIGINT in the CLI); the grace still applies. */
  signal?: AbortSignal;
}

/** Where a server is in its life: serving, draining (out of rotation, still serving), closing (listener closed). */
export type ServePhase = 'serving' | 'draining' | 'closing';

/** What createServer() adds: the server, plus draining and the metrics registry. */
export interface CrossrankServer {
  /** The fastify app, routes registered; call app.listen() to serve. */
  app: FastifyInstance;
  /**
   * The stop a load balancer needs: readiness answers 503 at once and every answer closes its
   * connection; requests keep being served for `delayMs`; then the listener closes and requests
   * already accepted get `graceMs` to finish before their work is aborted (answering 503).
   * Resolves true if every accepted request finished within the grace.
   */
  drain(graceMs: number, options?: DrainOptions): Promise<boolean>;
  /** The current phase, as /ready reports it. */
  readonly phase: ServePhase;
  /** The Prometheus registry and metrics behind /metrics. */
  metrics: ServeMetrics;
}

interface RequestState {
  start: bigint;
  controller: AbortController;
  cause: AbortCause;
}

/** crossrank's version, for /info (TEI's `version`). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
const states = new WeakMap<FastifyRequest, RequestState>();
const seconds = (from: bigint, to: bigint = process.hrtime.bigint()): number => Number(to - from) / 1e9;
const millis = (s: number): string => String(Math.round(s * 1000));
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** TEI's default scores (core/src/infer.rs): one logit gets a sigmoid, several a softmax. */
function teiActivate(row: Float32Array): Float32Array {
  if (row.length === 1) return Float32Array.of(sigmoid(row[0] as number));
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let den = 0;
  const out = new Float32Array(row.length);
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp((row[i] as number) - max);
    den += out[i] as number;
  }
  for (let i = 0; i < row.length; i++) out[i] = (out[i] as number) / den;
  return out;
}

interface Resolved {
  entry: ServedModel;
  info: ModelInfo;
}

/**
 * The routes as a fastify plugin, for mounting in an existing app (`app.register(crossrankPlugin,
 * {models, ...})`, optionally with a prefix). It sets its own JSON-schema validator (strict types,
 * no coercion) and error handler inside its scope, so the host app's settings are untouched.
 * The host owns the models: the plugin never closes them.
 */
export const crossrankPlugin: FastifyPluginAsync<
  ServeOptions & {
    /** @internal createServer's metrics, shared with the app's hooks. */
    metrics?: ServeMetrics;
    /** @internal createServer's shutdown flag: routes answer 503 while it is true. */
    draining?: () => boolean;
    /** @internal createServer's set of requests in flight, aborted when drain() runs past its grace. */
    inflight?: Set<RequestState>;
  }
> =
  async (app, options) => {
    if (!options.models?.length) throw new CrossrankError('INVALID_ARGUMENT', 'serve: at least one model is needed');
    const byName = new Map<string, ServedModel>();
    for (const entry of options.models) {
      for (const name of [entry.name, ...(entry.aliases ?? [])]) {
        if (byName.has(name)) throw new CrossrankError('INVALID_ARGUMENT', `serve: two models are called ${JSON.stringify(name)}`);
        byName.set(name, entry);
      }
    }
    const fallback = options.defaultModel !== undefined ? byName.get(options.defaultModel) : options.models[0];
    if (!fallback) throw new CrossrankError('INVALID_ARGUMENT', `serve: defaultModel ${JSON.stringify(options.defaultModel)} is not one of the models`);
    const maxClientBatchSize = options.maxClientBatchSize ?? 1024;
    const payloadLimit = options.payloadLimit ?? 2_000_000;
    const maxConcurrent = options.maxConcurrentRequests ?? 512;
    const timeoutMs = options.requestTimeoutMs ?? 0;
    const maxLength = Math.max(...options.models.map((m) => m.model.info.maxLength));
    const metrics = options.metrics ?? createMetrics(options.models, maxLength);
    const inflight = options.inflight ?? new Set<RequestState>();
    const draining = options.draining ?? (() => false);
    const keyHash = options.apiKey ? sha256(`Bearer ${options.apiKey}`) : undefined;
    let active = 0;
    const version = packageVersion();

    // Strict validation: no type coercion, no removal of fields. Fastify's default Ajv coerces
    // ("texts": "x" would become ["x"]); TEI (serde) rejects such bodies with 422.
    const ajv = new Ajv({ coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: false });
    app.setValidatorCompiler(({ schema }) => ajv.compile(schema));

    const fail = (reason: FailureReason): void => {
      metrics.requestFailure.inc({ err: reason });
    };

    app.setErrorHandler((error: FastifyError | HttpError, request, reply) => {
      const cohereOrJina = /\/v[12]\/rerank/.test(request.url);
      let http: HttpError;
      if (error instanceof HttpError) http = error;
      else if ((error as FastifyError).validation) http = new HttpError(422, 'Validation', `Input validation error: ${error.message}`, 'validation');
      else if ((error as FastifyError).code === 'FST_ERR_CTP_BODY_TOO_LARGE') http = new HttpError(413, 'Validation', `request body larger than --payload-limit (${payloadLimit} bytes)`, 'validation');
      else if ((error as FastifyError).statusCode === 400 || error instanceof SyntaxError) http = new HttpError(422, 'Validation', `Input validation error: ${error.message}`, 'validation');
      else if ((error as FastifyError).statusCode && (error as FastifyError).statusCode! < 500) http = new HttpError((error as FastifyError).statusCode!, 'Validation', error.message, 'validation');
      else {
        request.log.error({ err: error }, 'unexpected error');
        http = new HttpError(500, 'Backend', 'internal error', 'inference');
      }
      fail(http.reason);
      const body: Record<string, unknown> = { error: http.message, error_type: http.errorType };
      if (cohereOrJina) body.message = http.message; // Cohere's and Jina's clients read `message`
      void reply.code(http.status).headers(http.headers).send(body);
    });

    app.addHook('onRequest', async (request, reply) => {
      const state: RequestState = { start: process.hrtime.bigint(), controller: new AbortController(), cause: { timedOut: false, clientGone: false, shuttingDown: false } };
      states.set(request, state);
      // TEI's public routes and the probes stay open (balancers, kubelets, scrapers), under any prefix.
      if (keyHash && !/\/(health|ping|metrics|ready|live)$/.test(request.routeOptions.url ?? '')) {
        const given = sha256(String(request.headers.authorization ?? ''));
        if (!timingSafeEqual(given, keyHash)) {
          fail('unauthorized');
          return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized', error_type: 'Unauthorized' });
        }
      }
    });

    /** Picks the model a request names, or the default one. */
    function resolve(name: unknown): Resolved {
      let entry = typeof name === 'string' ? byName.get(name) : undefined;
      if (!entry) {
        if (options.strictModel && typeof name === 'string') {
          throw new HttpError(404, 'Validation', `model ${JSON.stringify(name)} is not served here; served: ${[...byName.keys()].join(', ')}`, 'validation');
        }
        entry = fallback!;
      }
      // Draining replicas keep serving: a balancer sends until its checks have seen /health's 503.
      if (entry.model.closed) throw new HttpError(503, 'Unhealthy', 'the server is shutting down', 'closed');
      return { entry, info: entry.model.info };
    }

    function checkBatch(count: number, field: string): void {
      if (count === 0) throw new HttpError(400, 'Empty', `\`${field}\` cannot be empty`, 'validation');
      if (count > maxClientBatchSize && !options.autoSplit) {
        throw new HttpError(413, 'Validation', `batch size ${count} > maximum allowed batch size ${maxClientBatchSize}`, 'batch_size');
      }
    }

    /**
     * Runs `work` as one admitted request: counts it against maxConcurrentRequests, wires the
     * client's disconnect, the request timeout and shutdown to one AbortSignal, times it.
     */
    async function admitted<T>(request: FastifyRequest, reply: FastifyReply, pairs: number, work: (signal: AbortSignal) => Promise<T>): Promise<{ value: T; queue: number; inference: number }> {
      const state = states.get(request)!;
      if (active >= maxConcurrent) throw new HttpError(429, 'Overloaded', `Model is overloaded: ${active} requests in flight (--max-concurrent-requests ${maxConcurrent})`, 'overloaded', { 'retry-after': '1' });
      active++;
      inflight.add(state);
      metrics.queueSize.inc(pairs);
      const onClose = (): void => {
        if (!reply.raw.writableFinished) {
          state.cause.clientGone = true;
          state.controller.abort();
        }
      };
      reply.raw.on('close', onClose);
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs > 0) {
        const left = Math.max(0, timeoutMs - seconds(state.start) * 1000);
        timer = setTimeout(() => {
          state.cause.timedOut = true;
          state.controller.abort();
        }, left);
      }
      const called = process.hrtime.bigint();
      const queue = seconds(state.start, called);
      try {
        const value = await work(state.controller.signal);
        return { value, queue, inference: seconds(called) };
      } catch (error) {
        throw fromLibrary(error, state.cause, timeoutMs);
      } finally {
        if (timer) clearTimeout(timer);
        reply.raw.off('close', onClose);
        metrics.queueSize.dec(pairs);
        inflight.delete(state);
        active--;
      }
    }

    /**
     * The instruction an LLM reranker scores a request with: the request's, else the serve default
     * (--instruction), else the model's own (undefined). A request that gives one to a cross-encoder
     * gets a 422 naming the request field, not the library option.
     */
    function instructionFor(r: Resolved, requested: string | null | undefined): string | undefined {
      if (r.info.kind === 'cross-encoder') {
        if (requested !== undefined && requested !== null) {
          throw new HttpError(422, 'Validation', `instruction: model ${JSON.stringify(r.entry.name)} is a cross-encoder; only LLM rerankers take an instruction`, 'validation');
        }
        return undefined;
      }
      return requested ?? options.instruction;
    }

    /** Scores `docs` against `query` (in chunks of maxClientBatchSize with autoSplit): one score per doc, in input order. */
    async function scoreDocs(r: Resolved, query: string, docs: string[], activation: 'identity' | undefined, signal: AbortSignal, maxChunks: number, requested?: string | null): Promise<Float32Array> {
      if (r.info.numLabels !== 1) {
        throw new HttpError(424, 'Backend', `model is not a re-ranker model: it has ${r.info.numLabels} labels (use /predict)`, 'model_type');
      }
      const instruction = instructionFor(r, requested);
      const scores = new Float32Array(docs.length);
      const chunk = options.autoSplit ? maxClientBatchSize : docs.length;
      const calls: Promise<void>[] = [];
      for (let from = 0; from < docs.length; from += chunk) {
        const part = docs.slice(from, from + chunk);
        calls.push(
          r.entry.model
            .rerank(query, part, {
              signal,
              ...(activation ? { activation } : {}),
              ...(options.maxBatchTokens ? { maxBatchTokens: options.maxBatchTokens } : {}),
              ...(instruction !== undefined ? { instruction } : {}),
              ...(maxChunks > 0 ? { chunking: { maxChunks } } : {}),
            })
            .then((hits) => {
              for (const hit of hits) scores[from + hit.index] = hit.score;
            }),
        );
      }
      await settleAll(calls);
      return scores;
    }

    /** Like Promise.all, but waits for every call before rejecting, so none outlives the request. */
    async function settleAll(calls: Promise<void>[]): Promise<void> {
      const results = await Promise.allSettled(calls);
      const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) throw failed.reason;
    }

    /** Real tokens per pair as the model sees them (truncated), for usage and x-compute-tokens. */
    async function countTokens(r: Resolved, pairs: Array<[string, string]>): Promise<{ tokens: number; seconds: number }> {
      const started = process.hrtime.bigint();
      const { ids } = await r.entry.model.tokenize(pairs);
      let tokens = 0;
      for (const row of ids) {
        tokens += row.length;
        metrics.inputLength.observe(row.length);
      }
      return { tokens, seconds: seconds(started) };
    }

    /** TEI's response headers (router/src/lib.rs ResponseMetadata), plus the model that answered. */
    function timingHeaders(reply: FastifyReply, request: FastifyRequest, r: Resolved, chars: number, t: { queue: number; inference: number }, tok?: { tokens: number; seconds: number }): void {
      const total = seconds(states.get(request)!.start);
      reply.header('x-compute-type', r.info.device === 'cuda' ? 'gpu' : 'cpu');
      reply.header('x-compute-time', millis(total));
      reply.header('x-total-time', millis(total));
      reply.header('x-compute-characters', String(chars));
      reply.header('x-queue-time', millis(t.queue));
      reply.header('x-inference-time', millis(t.inference));
      reply.header('x-crossrank-model', r.entry.name);
      if (tok) {
        reply.header('x-compute-tokens', String(tok.tokens));
        reply.header('x-tokenization-time', millis(tok.seconds));
        metrics.tokenizationDuration.observe(tok.seconds);
      }
      metrics.requestDuration.observe(total);
      metrics.queueDuration.observe(t.queue);
      metrics.inferenceDuration.observe(t.inference);
    }

    const charCount = (query: string, docs: string[]): number => {
      let n = [...query].length * docs.length;
      for (const d of docs) n += [...d].length;
      return n;
    };

    /** The shared path of the three rerank APIs: scores, token count if wanted, headers. */
    async function rerankRequest(request: FastifyRequest, reply: FastifyReply, modelName: unknown, query: string, docs: string[], field: string, activation: 'identity' | undefined, wantTokens: boolean, maxTokensPerDoc?: number, maxChunksPerDoc?: number, instruction?: string | null) {
      metrics.requestCount.inc({ method: 'batch' });
      checkBatch(docs.length, field);
      const r = resolve(modelName);
      checkMaxTokens(r, maxTokensPerDoc);
      const pairs = wantTokens ? docs.map((d): [string, string] => [query, d]) : undefined;
      const run = await admitted(request, reply, docs.length, async (signal) => {
        // --max-chunks-per-doc is a default for cross-encoders; an LLM reranker's prompt has no
        // MaxP yet, so only a request that asks for chunks gets the library's refusal.
        const maxChunks = maxChunksPerDoc ?? (r.info.kind === 'cross-encoder' ? (options.maxChunksPerDoc ?? 0) : 0);
        const [scores, tok] = await Promise.all([scoreDocs(r, query, docs, activation, signal, maxChunks, instruction), pairs ? countTokens(r, pairs) : undefined]);
        return { scores, tok };
      });
      for (const s of run.value.scores) if (Number.isNaN(s)) throw new HttpError(424, 'Backend', 'score is NaN', 'inference');
      timingHeaders(reply, request, r, charCount(query, docs), run, run.value.tok);
      metrics.requestSuccess.inc({ method: 'batch' });
      return { r, scores: run.value.scores, tokens: run.value.tok?.tokens };
    }

    /** Best first; ties keep the lower index first (the library's rule, which Cohere and Jina clients see). */
    const ranked = (scores: Float32Array, topN: number | undefined): number[] => {
      const order = Array.from(scores, (_, i) => i).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
      return topN === undefined ? order : order.slice(0, topN);
    };

    // --- TEI ------------------------------------------------------------------------------------
    app.post('/rerank', { schema: { body: teiRerankBody }, bodyLimit: payloadLimit }, async (request, reply) => {
      const body = withoutNulls(request.body as TeiRerankRequest);
      if (body.truncation_direction !== undefined && body.truncation_direction.toLowerCase() === 'left') {
        throw new HttpError(422, 'Validation', 'truncation_direction "left" is not supported per request: crossrank truncates on the side the model folder names (tokenizer_config.json truncation_side)', 'validation');
      }
      const wantTokens = options.countTokens === true;
      // Raw logits from the library; TEI's own rule (sigmoid of one logit) applied here.
      const { scores } = await rerankRequest(request, reply, body.model, body.query, body.texts, 'texts', 'identity', wantTokens, undefined, undefined, body.instruction);
      const ranks = Array.from(scores, (raw, index) => ({ index, score: body.raw_scores ? raw : Math.fround(sigmoid(raw)) }));
      // TEI sorts ascending (stable) then reverses: ties come out with the higher index first.
      ranks.sort((a, b) => b.score - a.score || b.index - a.index);
      return ranks.map((rank) => (body.return_text ? { index: rank.index, text: body.texts[rank.index], score: rank.score } : rank));
    });

    app.post('/predict', { schema: { body: predictBody }, bodyLimit: payloadLimit }, async (request, reply) => {
      const body = withoutNulls(request.body as PredictRequest);
      if (body.truncation_direction !== undefined && body.truncation_direction.toLowerCase() === 'left') {
        throw new HttpError(422, 'Validation', 'truncation_direction "left" is not supported per request: crossrank truncates on the side the model folder names', 'validation');
      }
      // TEI's PredictInput: a pair [a, b] is one input; an array of arrays is a batch.
      const single = typeof body.inputs === 'string' || typeof body.inputs[0] === 'string';
      const inputs = (single ? [body.inputs] : body.inputs) as Array<string | string[]>;
      metrics.requestCount.inc({ method: single ? 'single' : 'batch' });
      if (!single) checkBatch(inputs.length, 'inputs');
      const pairs = inputs.map((input, i): [string, string] => {
        if (Array.isArray(input) && input.length === 2) return [input[0] as string, input[1] as string];
        throw new HttpError(422, 'Validation', `inputs${single ? '' : `[${i}]`}: a cross-encoder scores pairs [string, string]; a single text cannot be scored`, 'validation');
      });
      const r = resolve(body.model);
      const instruction = instructionFor(r, body.instruction);
      const chunk = options.autoSplit ? maxClientBatchSize : pairs.length;
      const run = await admitted(request, reply, pairs.length, async (signal) => {
        const out = new Float32Array(pairs.length * r.info.numLabels);
        const calls: Promise<void>[] = [];
        for (let from = 0; from < pairs.length; from += chunk) {
          calls.push(
            r.entry.model
              .predict(pairs.slice(from, from + chunk), {
                signal,
                activation: 'identity',
                ...(options.maxBatchTokens ? { maxBatchTokens: options.maxBatchTokens } : {}),
                ...(instruction !== undefined ? { instruction } : {}),
              })
              .then((logits) => out.set(logits, from * r.info.numLabels)),
          );
        }
        await settleAll(calls);
        const tok = options.countTokens ? await countTokens(r, pairs) : undefined;
        return { out, tok };
      });
      const labels = Array.from({ length: r.info.numLabels }, (_, j) => r.info.labels?.[j] ?? `LABEL_${j}`);
      const answers = pairs.map((_, i) => {
        const raw = run.value.out.subarray(i * r.info.numLabels, (i + 1) * r.info.numLabels);
        const scores = body.raw_scores ? raw : teiActivate(raw);
        const predictions = Array.from(scores, (score, j) => {
          if (Number.isNaN(score)) throw new HttpError(424, 'Backend', 'score is NaN', 'inference');
          return { score, label: labels[j] as string };
        });
        return predictions.sort((a, b) => b.score - a.score);
      });
      timingHeaders(reply, request, r, pairs.reduce((n, [a, b]) => n + [...a].length + [...b].length, 0), run, run.value.tok);
      metrics.requestSuccess.inc({ method: single ? 'single' : 'batch' });
      return single ? answers[0] : answers;
    });

    app.get('/info', async (request) => {
      const model = (request.query as Record<string, unknown>)?.model;
      const r = resolve(model);
      const info = r.info;
      const labels = Array.from({ length: info.numLabels }, (_, j) => info.labels?.[j] ?? `LABEL_${j}`);
      const classifier = { id2label: Object.fromEntries(labels.map((l, j) => [String(j), l])), label2id: Object.fromEntries(labels.map((l, j) => [l, j])) };
      return {
        model_id: info.hub?.repo ?? r.entry.name,
        model_sha: info.hub?.commit ?? null,
        model_dtype: info.outputType,
        served_model_name: r.entry.name,
        model_type: info.numLabels === 1 ? { reranker: classifier } : { classifier },
        max_concurrent_requests: maxConcurrent,
        max_input_length: info.maxLength,
        max_batch_tokens: options.maxBatchTokens ?? (info.device === 'cuda' ? 262144 : 2048),
        max_batch_requests: null,
        max_client_batch_size: maxClientBatchSize,
        auto_truncate: true,
        tokenization_workers: options.tokenizerThreads || Math.min(availableParallelism(), 8),
        version,
        sha: null,
        docker_label: null,
        // crossrank's own additions: what else is served, and how.
        crossrank: {
          models: options.models.map((m) => ({ name: m.name, aliases: m.aliases ?? [], default: m === fallback })),
          revision: info.hub?.revision ?? null,
          file: info.hub?.file ?? info.modelPath,
          device: info.device,
          providers: info.providers,
          activation: info.activation,
          kind: info.kind, // 'cross-encoder' | 'causal-lm' | 'sequence-classification'
          ...(info.llm ? { instruction: options.instruction ?? info.llm.instruction, template: info.llm.templateSource, graph: info.llm.graph } : {}),
        },
      };
    });

    const health = async (): Promise<unknown> => {
      if (draining()) throw new HttpError(503, 'Unhealthy', 'unhealthy', 'closed');
      for (const m of options.models) {
        if (m.model.closed) throw new HttpError(503, 'Unhealthy', 'unhealthy', 'closed');
        try {
          // A real pass through the model, as TEI's health does; being busy is not being ill.
          await m.model.predict([['health', 'check']], { signal: AbortSignal.timeout(10_000) });
        } catch (error) {
          if (error instanceof CrossrankError && error.code === 'QUEUE_FULL') continue;
          throw new HttpError(503, 'Unhealthy', 'unhealthy', 'inference');
        }
      }
      return '';
    };
    // Readiness vs liveness (Kubernetes' split): /health (TEI's, a real model pass) and /ready (state
    // only, cheap enough for a balancer's sub-second checks) answer 503 while draining or closed, so
    // a balancer takes the replica out; /live answers 200 while the process answers at all, so a
    // draining or busy replica is never restarted for being out of rotation.
    app.get('/health', health);
    app.get('/ping', health);
    app.get('/ready', async () => {
      if (draining() || options.models.some((m) => m.model.closed)) throw new HttpError(503, 'Unhealthy', 'draining', 'closed');
      return '';
    });
    app.get('/live', async () => '');

    app.get('/metrics', async (_request, reply) => {
      void reply.header('content-type', metrics.registry.contentType);
      return metrics.registry.metrics();
    });

    // --- Cohere v2 --------------------------------------------------------------------------------
    app.post('/v2/rerank', { schema: { body: cohereV2Body }, bodyLimit: payloadLimit }, async (request, reply) => {
      const body = withoutNulls(request.body as CohereV2Request);
      const { scores } = await rerankRequest(request, reply, body.model, body.query, body.documents, 'documents', undefined, options.countTokens === true, body.max_tokens_per_doc, undefined, body.instruction);
      return {
        id: randomUUID(),
        results: ranked(scores, body.top_n).map((index) => ({ index, relevance_score: scores[index] })),
        meta: { api_version: { version: '2', is_experimental: false }, billed_units: { search_units: searchUnits(body.documents.length) } },
      };
    });

    // --- Cohere v1 and Jina, one path ---------------------------------------------------------------
    app.post('/v1/rerank', { schema: { body: cohereV1Body }, bodyLimit: payloadLimit }, async (request, reply) => {
      const body = withoutNulls(request.body as CohereV1Request);
      const flavour = v1Flavour(body, request.headers);
      const docs = body.documents.map((d, i) => {
        if (typeof d === 'string') return d;
        // Cohere's rank_fields: the named fields in order, as "field: value" lines (own fields only).
        if (body.rank_fields?.length) return body.rank_fields.map((f) => `${f}: ${Object.hasOwn(d, f) ? String(d[f]) : ''}`).join('\n');
        if (typeof d.text === 'string') return d.text;
        throw new HttpError(422, 'Validation', `documents[${i}]: a string or an object with a string \`text\` (images are not supported)`, 'validation');
      });
      const { r, scores, tokens } = await rerankRequest(request, reply, body.model, body.query, docs, 'documents', undefined, flavour === 'jina' || options.countTokens === true, body.max_tokens_per_doc, body.max_chunks_per_doc, body.instruction);
      // Cohere: documents only when asked; Jina: by default (its API's default is true).
      const withDocs = body.return_documents ?? flavour === 'jina';
      const results = ranked(scores, body.top_n).map((index) => {
        const original = body.documents[index];
        const document = typeof original === 'string' ? { text: original } : original;
        return flavour === 'jina'
          ? { index, ...(withDocs ? { document: { text: docs[index] } } : {}), relevance_score: scores[index] }
          : { ...(withDocs ? { document } : {}), index, relevance_score: scores[index] };
      });
      if (flavour === 'jina') return { model: typeof body.model === 'string' ? body.model : r.entry.name, usage: { total_tokens: tokens ?? 0 }, results };
      return { id: randomUUID(), results, meta: { api_version: { version: '1' }, billed_units: { search_units: searchUnits(docs.length) } } };
    });

    /** Cohere's max_tokens_per_doc can only be honoured when it does not cut below the model's own limit. */
    function checkMaxTokens(r: Resolved, maxTokens: number | undefined): void {
      if (maxTokens !== undefined && maxTokens < r.info.maxLength) {
        throw new HttpError(422, 'Validation', `max_tokens_per_doc ${maxTokens} is below the model's limit of ${r.info.maxLength} tokens; crossrank truncates pairs to the model's limit only`, 'validation');
      }
    }
  };

/** Cohere bills a search unit per query and up to 100 documents. */
const searchUnits = (docs: number): number => Math.max(1, Math.ceil(docs / 100));

/**
 * POST /v1/rerank serves Cohere's v1 and Jina's API; they differ in defaults (return_documents)
 * and response shape. Cohere by its own fields (rank_fields, max_chunks_per_doc,
 * max_tokens_per_doc), its SDKs' X-Fern-SDK-Name header or its model names (rerank-*);
 * otherwise Jina, whose API is what plain HTTP clients of /v1/rerank mostly speak.
 */
export function v1Flavour(body: CohereV1Request, headers: Record<string, unknown>): 'cohere' | 'jina' {
  if (body.rank_fields !== undefined || body.max_chunks_per_doc !== undefined || body.max_tokens_per_doc !== undefined) return 'cohere';
  if (String(headers['x-fern-sdk-name'] ?? '').toLowerCase().startsWith('cohere')) return 'cohere';
  if (typeof body.model === 'string' && body.model.startsWith('rerank-')) return 'cohere';
  return 'jina';
}

/**
 * A fastify server with the crossrank routes (TEI: POST /rerank, POST /predict, GET /info,
 * GET /health; Cohere: POST /v2/rerank and /v1/rerank; Jina: POST /v1/rerank; GET /metrics).
 * `fastify` passes options to Fastify() (logger, ...). Call app.listen() to start and drain() to stop.
 */
export async function createServer(options: ServeOptions & { fastify?: FastifyServerOptions }): Promise<CrossrankServer> {
  const app = Fastify({
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ...options.fastify,
  });
  const maxLength = Math.max(...options.models.map((m) => m.model.info.maxLength));
  const metrics = createMetrics(options.models, maxLength);
  const inflight = new Set<RequestState>();
  let phase: ServePhase = 'serving';
  let draining: Promise<boolean> | undefined;
  // One log line per answered request, at info, for structured logs without fastify's two-line default.
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  // While draining, answers close their connection: a balancer (or keep-alive client) then opens
  // its next connection to a replica in rotation, and none is left idle here to be cut mid-send.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (phase !== 'serving') void reply.header('connection', 'close');
    return payload;
  });
  await app.register(crossrankPlugin, { ...options, metrics, inflight, draining: () => phase !== 'serving' });
  // Unknown routes answer in the same {error, error_type} shape as every other error (fastify's
  // default is {message, error, statusCode}), so a TEI client parses them like the rest.
  app.setNotFoundHandler(async (request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    const shown = path.length > 200 ? `${path.slice(0, 200)}...` : path;
    return reply.code(404).send({ error: `no route ${request.method} ${shown}`, error_type: 'Validation' satisfies ErrorType });
  });
  return {
    app,
    metrics,
    get phase() {
      return phase;
    },
    drain(graceMs: number, drainOptions: DrainOptions = {}): Promise<boolean> {
      // One drain per server: a second call (a second signal, a test's cleanup) joins the first.
      draining ??= drainOnce(graceMs, drainOptions);
      return draining;
    },
  };

  async function drainOnce(graceMs: number, drainOptions: DrainOptions): Promise<boolean> {
    phase = 'draining';
    const delayMs = drainOptions.delayMs ?? 0;
    if (delayMs > 0 && !drainOptions.signal?.aborted) {
      app.log.info({ delayMs }, 'draining: readiness answers 503, still serving until the balancer has seen it');
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(wait);
          drainOptions.signal?.removeEventListener('abort', done);
          resolve();
        };
        const wait = setTimeout(done, delayMs);
        drainOptions.signal?.addEventListener('abort', done, { once: true });
      });
    }
    phase = 'closing';
    let timer: NodeJS.Timeout | undefined;
    // Connections that were busy when closing began turn idle later: close them as they do.
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    const inTime = await Promise.race([
      app.close().then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), graceMs);
      }),
    ]);
    clearTimeout(timer);
    clearInterval(sweep);
    if (!inTime) {
      for (const state of inflight) {
        state.cause.shuttingDown = true;
        state.controller.abort();
      }
      await app.close();
    }
    return inTime;
  }
}

export type { ErrorType };
