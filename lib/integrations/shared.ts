// What the framework adapters (ai-sdk.ts, langchain.ts, llamaindex.ts) share: a model given as a
// loaded CrossEncoder or as a hub id / folder loaded lazily once, and checks of their options.
// It imports crossrank's core as the package (`crossrank`, see tsup.config.ts), never a framework.
import { CrossEncoder, CrossrankError, type LoadOptions, type RerankOptions, type RerankResult } from 'crossrank';

/** A short, safe description of a received value for messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length > 40 ? `a string of length ${value.length}` : `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return `the ${typeof value} ${value}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** INVALID_ARGUMENT naming the argument, what it must be and what it was. */
export function invalid(name: string, expected: string, received: unknown): CrossrankError {
  return new CrossrankError('INVALID_ARGUMENT', `${name} must be ${expected}, received ${describe(received)}`);
}

/** An options object (undefined: empty). */
export function checkObject(name: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(name, 'an object', value);
  return value as Record<string, unknown>;
}

/** Rejects unknown option names: a typo must not pass silently. */
export function checkKeys(name: string, o: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(o)) {
    if (!known.includes(key)) throw new CrossrankError('INVALID_ARGUMENT', `${name} has no option ${JSON.stringify(key)}; known: ${known.join(', ')}`);
  }
}

/** A loaded CrossEncoder, or what CrossEncoder.load takes: a hub id (`org/name[@revision]`) or a model folder. */
export type ModelSource = CrossEncoder | string;

/**
 * Options forwarded to every CrossEncoder.rerank call an adapter makes (batchSize,
 * maxBatchTokens, activation, chunking, and any option rerank gains, such as an instruction).
 * topK, signal and returnDocuments are set by the adapter from the framework's own arguments.
 */
export type ForwardedRerankOptions = Omit<RerankOptions, 'topK' | 'signal' | 'returnDocuments'>;

/**
 * One model for an adapter: a CrossEncoder given by the caller (the caller closes it), or one
 * loaded on first use from an id or folder and then shared by every call (close() frees it).
 * A failed load is not cached: the next call tries again.
 */
export class LazyModel {
  readonly #source: ModelSource;
  readonly #loadOptions: LoadOptions | undefined;
  #loading: Promise<CrossEncoder> | undefined;
  #closed = false;

  constructor(name: string, source: ModelSource, loadOptions?: LoadOptions) {
    if (!(source instanceof CrossEncoder) && (typeof source !== 'string' || source.length === 0)) {
      throw invalid(name, 'a CrossEncoder, a hub id or a model folder', source);
    }
    if (source instanceof CrossEncoder && loadOptions !== undefined) {
      throw new CrossrankError('INVALID_ARGUMENT', `${name}: loadOptions apply to a model loaded by id or folder, not to a loaded CrossEncoder`);
    }
    if (loadOptions !== undefined) checkObject(`${name} loadOptions`, loadOptions);
    this.#source = source;
    this.#loadOptions = loadOptions;
  }

  /** The id or folder, or the loaded model's folder. */
  get name(): string {
    return typeof this.#source === 'string' ? this.#source : (this.#source.info.hub?.repo ?? this.#source.info.dir);
  }

  /** The model, loading it on first use (concurrent first calls share one load). */
  get(): Promise<CrossEncoder> {
    if (this.#closed) return Promise.reject(new CrossrankError('CLOSED', 'the model is closed'));
    if (this.#source instanceof CrossEncoder) return Promise.resolve(this.#source);
    this.#loading ??= CrossEncoder.load(this.#source, this.#loadOptions).catch((error: unknown) => {
      this.#loading = undefined; // a failed load is retried by the next call
      throw error;
    });
    return this.#loading;
  }

  /** Closes a model this object loaded (never one the caller passed in); later calls reject with CLOSED. */
  async close(): Promise<void> {
    this.#closed = true;
    const loading = this.#loading;
    this.#loading = undefined;
    if (!loading) return;
    const model = await loading.catch(() => undefined);
    await model?.close();
  }
}

/** A positive integer or undefined, for topN options. */
export function optionalTopN(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(name, 'an integer >= 0', value);
  return value;
}

/** Forwarded rerank options: an object, without the keys the adapter sets itself. */
export function checkForwarded(name: string, value: unknown): ForwardedRerankOptions {
  const o = checkObject(name, value);
  for (const key of ['topK', 'signal', 'returnDocuments']) {
    if (key in o) throw new CrossrankError('INVALID_ARGUMENT', `${name}.${key} is set by the adapter from the framework's arguments; received ${describe(o[key])}`);
  }
  return o as ForwardedRerankOptions;
}

/** Runs ce.rerank with forwarded options. */
export function rerankWith(ce: CrossEncoder, query: string, texts: string[], forwarded: ForwardedRerankOptions, topK: number | undefined, signal: AbortSignal | undefined): Promise<RerankResult[]> {
  const options: RerankOptions = { ...forwarded };
  if (topK !== undefined) options.topK = topK;
  if (signal !== undefined) options.signal = signal;
  return ce.rerank(query, texts, options);
}
