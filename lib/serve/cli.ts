// `crossrank serve`: flags, environment (CROSSRANK_<FLAG> for every --flag), model loading,
// listening, and the graceful stop on SIGTERM/SIGINT.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

import { CrossEncoder, type Device, type LoadOptions, type PrecisionOption } from '../cross-encoder.js';
import { CrossrankError } from '../errors.js';
import { createServer, type ServedModel } from './server.js';

/** `crossrank serve --help`: every flag, its default, and the CROSSRANK_<FLAG> environment rule. */
export const SERVE_USAGE = `usage: crossrank serve --model ID|DIR [--model [NAME=]ID|DIR ...] [options]
  --model [NAME=]ID|DIR      a hub id or model folder; repeat for several; the first is the default
                             (NAME= gives it another name for requests' "model", e.g. rerank-v3.5=cross-encoder/...)
  --default-model NAME       which model answers requests that name none (or an unknown one)
  --host HOST                address to listen on (127.0.0.1; 0.0.0.0 in the Docker images)
  --port PORT                (8080)
  --api-key KEY              require "Authorization: Bearer KEY" (also CROSSRANK_API_KEY)
  --max-client-batch-size N  most texts/documents per request (1024); more: 413
  --auto-split               score larger requests in chunks of --max-client-batch-size instead of 413
  --payload-limit BYTES      largest body (2000000); larger: 413
  --max-concurrent-requests N  requests handled at once (512); more: 429
  --max-queued-pairs N       pairs the model may hold queued (library default 1048576); more: 429
  --request-timeout SECONDS  cancel a request's work and answer 503 after this long (0: never)
  --drain-delay SECONDS      on SIGTERM/SIGINT, keep serving this long after /health and /ready turn
                             503, so a load balancer's checks see it first (5; >= its interval x fall)
  --grace SECONDS            then, after the listener closes, time for accepted requests to finish (30)
  --max-batch-tokens N       rows x padded length per model run (2048 CPU, 262144 CUDA)
  --max-chunks-per-doc N     score documents past the model's limit by their best window, at most N
                             windows each (0: truncate); Cohere v1's max_chunks_per_doc overrides it
  --count-tokens             count tokens of every request (x-compute-tokens header)
  --strict-model             answer 404 to a "model" that is not served instead of using the default
  --instruction TEXT         LLM rerankers: the instruction when a request sends none (default: the model's own)
  --device cpu|cuda|auto     (cpu)   --precision fp32|fp16|int8|q4|auto (fp32)   --revision REV   --threads N
  --log-level LEVEL          fatal|error|warn|info|debug (info); logs are JSON lines on stdout
Probes: GET /live answers 200 while the process runs (liveness); GET /ready (state only) and
GET /health (TEI's, one model pass) answer 503 while models load and from the first SIGTERM on
(readiness). A second SIGTERM/SIGINT ends --drain-delay early.
Every flag also reads from the environment as CROSSRANK_<FLAG> (CROSSRANK_MAX_CLIENT_BATCH_SIZE=64,
CROSSRANK_MODEL=a,b for several models); flags win.`;

const FLAGS = {
  model: { type: 'string', multiple: true },
  'default-model': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'api-key': { type: 'string' },
  'max-client-batch-size': { type: 'string' },
  'auto-split': { type: 'boolean' },
  'payload-limit': { type: 'string' },
  'max-concurrent-requests': { type: 'string' },
  'max-queued-pairs': { type: 'string' },
  'request-timeout': { type: 'string' },
  grace: { type: 'string' },
  'drain-delay': { type: 'string' },
  'max-batch-tokens': { type: 'string' },
  'max-chunks-per-doc': { type: 'string' },
  'count-tokens': { type: 'boolean' },
  instruction: { type: 'string' },
  'strict-model': { type: 'boolean' },
  device: { type: 'string' },
  precision: { type: 'string' },
  revision: { type: 'string' },
  threads: { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The flag names of `crossrank serve`, without dashes (`max-client-batch-size`), for error messages. */
export const SERVE_FLAG_NAMES: readonly string[] = Object.keys(FLAGS);

/** Settings of `crossrank serve` after flags and environment. */
export interface ServeConfig {
  /** --model, in order (the first is the default): each `NAME=REF` or a REF named by itself. */
  models: Array<{
    /** The name requests' `model` picks it by. */
    name: string;
    /** The hub id or folder to load. */
    ref: string;
  }>;
  /** --default-model: the model for requests that name none (or an unknown one). */
  defaultModel: string | undefined;
  /** --host: the address to listen on [127.0.0.1]. */
  host: string;
  /** --port [8080]. */
  port: number;
  /** --api-key: requests need `Authorization: Bearer KEY` (except /health, /ping, /metrics). */
  apiKey: string | undefined;
  /** --max-client-batch-size: most texts per request [1024]; more answer 413 unless autoSplit. */
  maxClientBatchSize: number;
  /** --auto-split: score larger requests in chunks of maxClientBatchSize instead of 413. */
  autoSplit: boolean;
  /** --payload-limit: the largest body in bytes [2,000,000]; larger answer 413. */
  payloadLimit: number;
  /** --max-concurrent-requests: requests handled at once [512]; more answer 429. */
  maxConcurrentRequests: number;
  /** --max-queued-pairs: pairs each model may hold queued (LoadOptions.maxQueuedPairs; library default 1,048,576). */
  maxQueuedPairs: number | undefined;
  /** --request-timeout, in ms (the flag is in seconds): cancel and answer 503 after this long [0: never]. */
  requestTimeoutMs: number;
  /** --grace, in ms (the flag is in seconds): time for in-flight requests after SIGTERM/SIGINT [30,000]. */
  graceMs: number;
  /** --drain-delay, in ms (the flag is in seconds): keep serving after /health and /ready turn 503, before the listener closes [5,000]. */
  drainDelayMs: number;
  /** --max-batch-tokens: rows x padded length per model run [the device's default]. */
  maxBatchTokens: number | undefined;
  /** --max-chunks-per-doc: score rerank documents past the model's limit by their best window, at most this many windows [0: truncate]. */
  maxChunksPerDoc: number;
  /** --count-tokens: count every request's tokens (x-compute-tokens header). */
  countTokens: boolean;
  /** --strict-model: answer 404 to a `model` that is not served instead of using the default. */
  strictModel: boolean;
  /** --instruction: LLM rerankers' instruction when a request sends none. */
  instruction: string | undefined;
  /** --device [cpu]. */
  device: Device;
  /** --precision: which ONNX file (LoadOptions.precision). */
  precision: PrecisionOption | undefined;
  /** --revision: the hub branch, tag or commit of every hub model. */
  revision: string | undefined;
  /** --threads: ONNX Runtime intra-op threads per model (0: one per physical core). */
  threads: number | undefined;
  /** --log-level: fatal, error, warn, info or debug [info]; JSON lines on stdout. */
  logLevel: string;
}

const bad = (flag: string, expected: string, value: string): CrossrankError =>
  new CrossrankError('INVALID_ARGUMENT', `--${flag} must be ${expected}, received ${JSON.stringify(value)}`);

/** Reads flags, then CROSSRANK_* environment variables for flags not given. Throws INVALID_ARGUMENT. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeConfig | 'help' {
  const { values } = parseArgs({ args: argv, options: FLAGS, allowPositionals: false, strict: true });
  if (values.help) return 'help';
  const get = (flag: keyof typeof FLAGS): string | undefined => {
    const v = values[flag as keyof typeof values];
    if (typeof v === 'string') return v;
    return env[`CROSSRANK_${flag.toUpperCase().replaceAll('-', '_')}`];
  };
  const flag = (name: keyof typeof FLAGS): boolean => {
    if (values[name as keyof typeof values] === true) return true;
    const v = env[`CROSSRANK_${name.toUpperCase().replaceAll('-', '_')}`];
    return v === '1' || v === 'true';
  };
  const int = (name: keyof typeof FLAGS, fallback: number | undefined, min = 0): number | undefined => {
    const v = get(name);
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < min) throw bad(name, `an integer >= ${min}`, v);
    return n;
  };
  /** A flag in seconds, returned in milliseconds; `fallbackSeconds` is in seconds too. */
  const secs = (name: keyof typeof FLAGS, fallbackSeconds: number): number => {
    const v = get(name);
    if (v === undefined || v === '') return Math.round(fallbackSeconds * 1000);
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw bad(name, 'a number of seconds >= 0', v);
    return Math.round(n * 1000);
  };
  const refs = values.model ?? (env.CROSSRANK_MODEL ? env.CROSSRANK_MODEL.split(',').map((s) => s.trim()).filter(Boolean) : []);
  if (refs.length === 0) throw new CrossrankError('INVALID_ARGUMENT', 'serve needs --model (or CROSSRANK_MODEL)');
  const models = refs.map((spec) => {
    // NAME=REF, where NAME has no '/' (hub ids and paths do).
    const eq = spec.indexOf('=');
    if (eq > 0 && !spec.slice(0, eq).includes('/')) return { name: spec.slice(0, eq), ref: spec.slice(eq + 1) };
    return { name: spec, ref: spec };
  });
  const device = (get('device') ?? 'cpu') as Device;
  if (!['cpu', 'cuda', 'auto'].includes(device)) throw bad('device', 'cpu, cuda or auto', device);
  const precision = get('precision') as PrecisionOption | undefined;
  if (precision !== undefined && !['fp32', 'fp16', 'int8', 'q4', 'auto'].includes(precision)) throw bad('precision', 'fp32, fp16, int8, q4 or auto', precision);
  return {
    models,
    defaultModel: get('default-model'),
    host: get('host') ?? '127.0.0.1',
    port: int('port', 8080) as number,
    apiKey: get('api-key') || undefined,
    maxClientBatchSize: int('max-client-batch-size', 1024, 1) as number,
    autoSplit: flag('auto-split'),
    payloadLimit: int('payload-limit', 2_000_000, 1) as number,
    maxConcurrentRequests: int('max-concurrent-requests', 512, 1) as number,
    maxQueuedPairs: int('max-queued-pairs', undefined, 1),
    requestTimeoutMs: secs('request-timeout', 0),
    graceMs: secs('grace', 30),
    drainDelayMs: secs('drain-delay', 5),
    maxBatchTokens: int('max-batch-tokens', undefined, 1),
    maxChunksPerDoc: int('max-chunks-per-doc', 0, 0)!,
    countTokens: flag('count-tokens'),
    strictModel: flag('strict-model'),
    instruction: get('instruction'),
    device,
    precision,
    revision: get('revision'),
    threads: int('threads', undefined, 0),
    logLevel: get('log-level') ?? 'info',
  };
}

/**
 * Holds the port while models load (a download can take minutes): GET /live answers 200, every
 * other request 503 with `Retry-After`, so probes see a live process that is not ready yet rather
 * than a refused connection. Closed just before the real server listens on the same port.
 */
async function listenWhileLoading(host: string, port: number): Promise<Server> {
  const server = createHttpServer((request, response) => {
    const live = request.method === 'GET' && /\/live$/.test((request.url ?? '').split('?')[0] as string);
    response.writeHead(live ? 200 : 503, { 'content-type': 'application/json', connection: 'close', ...(live ? {} : { 'retry-after': '1' }) });
    response.end(live ? '' : JSON.stringify({ error: 'loading models', error_type: 'Unhealthy' }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Runs the server until SIGTERM/SIGINT; resolves with the exit code (0 when in-flight work finished within --grace). */
export async function serveMain(argv: string[]): Promise<number> {
  const config = parseServeArgs(argv);
  if (config === 'help') {
    console.error(SERVE_USAGE);
    return 0;
  }
  const served: ServedModel[] = [];
  const closeAll = async (): Promise<void> => {
    await Promise.all(served.map((m) => m.model.close()));
  };
  const loading = await listenWhileLoading(config.host, config.port);
  const stopLoading = (): Promise<void> =>
    new Promise((resolve) => {
      loading.close(() => resolve());
      loading.closeAllConnections();
    });
  // With --port 0 the real server takes the port the placeholder was given.
  const port = (loading.address() as AddressInfo).port;
  try {
    for (const { name, ref } of config.models) {
      const options: LoadOptions = { device: config.device };
      if (config.precision) options.precision = config.precision;
      if (config.revision) options.revision = config.revision;
      if (config.threads !== undefined) options.threads = config.threads;
      if (config.maxQueuedPairs !== undefined) options.maxQueuedPairs = config.maxQueuedPairs;
      served.push({ name, model: await CrossEncoder.load(ref, options), ...(name !== ref ? { aliases: [ref] } : {}) });
    }
  } catch (error) {
    await stopLoading();
    await closeAll();
    throw error;
  }
  const server = await createServer({
    models: served,
    defaultModel: config.defaultModel,
    maxClientBatchSize: config.maxClientBatchSize,
    autoSplit: config.autoSplit,
    payloadLimit: config.payloadLimit,
    maxConcurrentRequests: config.maxConcurrentRequests,
    requestTimeoutMs: config.requestTimeoutMs,
    apiKey: config.apiKey,
    maxBatchTokens: config.maxBatchTokens,
    maxChunksPerDoc: config.maxChunksPerDoc,
    countTokens: config.countTokens,
    strictModel: config.strictModel,
    ...(config.instruction !== undefined ? { instruction: config.instruction } : {}),
    fastify: { logger: { level: config.logLevel } },
  });
  const { app } = server;
  await stopLoading();
  const address = await app.listen({ host: config.host, port });
  // The startup line: what is served, from which file, on which device, within which limits.
  app.log.info(
    {
      address,
      models: served.map((m) => {
        const i = m.model.info;
        return { name: m.name, source: i.hub ? `${i.hub.repo}@${i.hub.commit}` : i.dir, file: i.hub?.file ?? i.modelPath, precision: i.precisionChoice, device: i.device, providers: i.providers, maxLength: i.maxLength, labels: i.numLabels };
      }),
      default: config.defaultModel ?? served[0]?.name,
      limits: {
        maxClientBatchSize: config.maxClientBatchSize,
        autoSplit: config.autoSplit,
        payloadLimit: config.payloadLimit,
        maxConcurrentRequests: config.maxConcurrentRequests,
        maxQueuedPairs: config.maxQueuedPairs ?? 1 << 20,
        requestTimeoutMs: config.requestTimeoutMs,
        graceMs: config.graceMs,
        drainDelayMs: config.drainDelayMs,
      },
      auth: config.apiKey ? 'bearer' : 'none',
    },
    'crossrank serve ready',
  );
  // First signal: drain (readiness 503, serve through --drain-delay, close, --grace). A second
  // one ends the delay early, for a person at a terminal who does not want to wait.
  const hurry = new AbortController();
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    let seen = false;
    const on = (name: NodeJS.Signals) => (): void => {
      if (seen) {
        app.log.info({ signal: name }, 'second signal: ending --drain-delay now');
        hurry.abort();
        return;
      }
      seen = true;
      resolve(name);
    };
    process.on('SIGTERM', on('SIGTERM'));
    process.on('SIGINT', on('SIGINT'));
  });
  app.log.info({ signal, drainDelayMs: config.drainDelayMs, graceMs: config.graceMs }, 'stopping: out of rotation now, no new connections after --drain-delay, finishing those in flight');
  const inTime = await server.drain(config.graceMs, { delayMs: config.drainDelayMs, signal: hurry.signal });
  await closeAll();
  app.log.info({ inTime }, inTime ? 'stopped' : 'stopped after --grace: requests still in flight were cancelled');
  return inTime ? 0 : 1;
}
