// BEIR re-ranking evaluation: take a first-stage run (e.g. BM25 top-100), rerank each query's top
// k documents with a cross-encoder, write the reranked run, and report NDCG@10, MRR@10,
// Recall@100 and MAP against the qrels: for the first-stage run file as trec_eval scores it, for
// that run cut to its top k (what the reranker reorders), and for the reranked run.
// An interrupted evaluation resumes: finished queries are appended to `<output>.partial`.
// Several queries are in flight at once, so that the model's scheduler tokenizes the next ones
// while it scores these and fills its batches across queries.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

import { parseTrecRun, readCorpus, readQrels, readQueries, readTrecRun, trecLines } from './beir.js';
import { CrossEncoder, type LoadOptions } from '../cross-encoder.js';
import { CrossrankError } from '../errors.js';
import { type MetricsReport, type QueryMetrics, type Run, evaluateRun, trecOrder } from './metrics.js';
import { checkKeys, checkObject, invalid, optionalInt, optionalString } from '../validate.js';

/** Options of evaluate(): the data, the first-stage run, the model and how to run it. */
export interface EvaluateOptions {
  /** BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv. */
  data: string;
  /** First-stage run in TREC format. */
  run: string;
  /** A model folder, or a loaded CrossEncoder (left open). */
  model: string | CrossEncoder;
  /** Where to write the reranked TREC run (default: none, kept in memory). */
  output?: string;
  /** Documents reranked per query (default 100). */
  topK?: number;
  /** qrels split (default 'test'). */
  split?: string;
  /** Rows per batch (default: the device's default, as for predict()). */
  batchSize?: number;
  /** Queries in flight at once (default 8). 1 reranks one query after the other. */
  concurrency?: number;
  /** Options for CrossEncoder.load when `model` is a path or hub id (ignored for a loaded model). */
  loadOptions?: LoadOptions;
  /** Called after each query: (queries done, queries in all). */
  onProgress?: (done: number, total: number) => void;
  /** Cancels the evaluation: rerank calls in flight reject with ABORTED; queries already written to `<output>.partial` stay there. */
  signal?: AbortSignal;
}

/** What evaluate() measured: trec_eval means of three runs, and each query's figures. */
export interface EvaluateReport {
  /** Queries of the first-stage run (each must be in queries.jsonl), reranked or resumed. */
  queries: number;
  /** Queries reranked by this call (queries - resumedQueries). */
  rerankedQueries: number;
  /** Queries taken from `<output>.partial` of an interrupted earlier call, not scored again. */
  resumedQueries: number;
  /** (query, document) pairs this call scored. */
  documentsScored: number;
  /** Wall time of the call, in seconds. */
  seconds: number;
  /** The whole first-stage run file, as `trec_eval qrels run` scores it (every depth it has). */
  firstStage: QueryMetrics;
  /**
   * The first-stage run cut to each query's top k: the documents the reranker reorders. Differs
   * from firstStage (MAP, Recall@100) when the run is deeper than top k.
   */
  firstStageTopK: QueryMetrics;
  /** The reranked top k (documents below top k are dropped, as in sentence-transformers' evaluator). */
  reranked: QueryMetrics;
  /** The top k used. */
  topK: number;
  /** The reranked TREC run written (options.output), when one was asked for. */
  output?: string;
  /** Each query's metrics (query id -> metrics), for the three runs above. */
  perQuery: {
    /** The whole first-stage run. */
    firstStage: MetricsReport['perQuery'];
    /** The first-stage run cut to top k. */
    firstStageTopK: MetricsReport['perQuery'];
    /** The reranked top k. */
    reranked: MetricsReport['perQuery'];
  };
}

const KEYS = ['data', 'run', 'model', 'output', 'topK', 'split', 'batchSize', 'concurrency', 'loadOptions', 'onProgress', 'signal'] as const;
const DEFAULT_CONCURRENCY = 8;

/**
 * BEIR re-ranking: reranks each query's top k of a first-stage run with a cross-encoder, writes the
 * reranked run (options.output, resumable from `<output>.partial`) and reports NDCG@10, MRR@10,
 * Recall@100 and MAP with trec_eval's semantics (lib/eval/metrics.ts). A model given by path or hub
 * id is loaded and closed here; a CrossEncoder passed in stays open.
 * Errors: INVALID_ARGUMENT (bad options, missing or malformed files, run queries or documents
 * absent from queries.jsonl / corpus.jsonl), and any error of CrossEncoder.load or rerank.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluateReport> {
  const o = checkObject('options', options);
  checkKeys('options', o, KEYS);
  const data = optionalString('options.data', o.data);
  const runPath = optionalString('options.run', o.run);
  if (!data) throw invalid('options.data', 'a BEIR folder path', o.data);
  if (!runPath) throw invalid('options.run', 'a TREC run file path', o.run);
  const output = optionalString('options.output', o.output);
  const topK = optionalInt('options.topK', o.topK, 1, 1_000_000) ?? 100;
  const split = optionalString('options.split', o.split) ?? 'test';
  const batchSize = optionalInt('options.batchSize', o.batchSize, 1, 65536);
  const concurrency = optionalInt('options.concurrency', o.concurrency, 1, 1024) ?? DEFAULT_CONCURRENCY;
  if (typeof o.model !== 'string' && !(o.model instanceof CrossEncoder)) {
    throw invalid('options.model', 'a model folder path or a CrossEncoder', o.model);
  }
  const started = Date.now();

  const qrels = readQrels(data, split);
  const firstStage = readTrecRun(runPath);
  const queries = await readQueries(data);
  // The candidates: each query's top k of the first stage, in trec_eval order.
  const candidates = new Map<string, string[]>();
  for (const [qid, docs] of firstStage) {
    if (!queries.has(qid)) throw new CrossrankError('INVALID_ARGUMENT', `query ${qid} of the run is not in queries.jsonl`);
    candidates.set(qid, trecOrder(docs).slice(0, topK));
  }
  const wanted = new Set([...candidates.values()].flat());
  const corpus = await readCorpus(data, wanted);
  const missing = [...wanted].filter((d) => !corpus.has(d));
  if (missing.length > 0) {
    throw new CrossrankError('INVALID_ARGUMENT', `${missing.length} document(s) of the run are not in corpus.jsonl (first: ${missing[0]})`);
  }

  // Resume: queries already written to the partial output are not scored again.
  const partial = output ? `${output}.partial` : undefined;
  const reranked: Run = new Map();
  if (partial && existsSync(partial)) {
    for (const [qid, docs] of parseTrecRun(readFileSync(partial, 'utf8'), partial)) reranked.set(qid, docs);
  } else if (partial) {
    mkdirSync(dirname(partial), { recursive: true });
    writeFileSync(partial, '');
  }
  const resumedQueries = reranked.size;

  const model = typeof o.model === 'string' ? await CrossEncoder.load(o.model, options.loadOptions) : o.model;
  let documentsScored = 0;
  try {
    const todo = [...candidates.keys()].filter((q) => !reranked.has(q));
    let done = candidates.size - todo.length;
    options.onProgress?.(done, candidates.size);
    const aborted = () => new CrossrankError('ABORTED', 'the evaluation was aborted; rerun it to resume');
    let next = 0;
    let failure: unknown;
    // Each lane takes the next query when its last one is written. A failure stops the lanes from
    // taking more; the calls in flight settle before evaluate() rejects with the first failure.
    const lane = async () => {
      while (failure === undefined && next < todo.length) {
        const qid = todo[next++]!;
        try {
          if (options.signal?.aborted) throw aborted();
          const docIds = candidates.get(qid)!;
          const hits = await model.rerank(queries.get(qid)!, docIds.map((d) => corpus.get(d)!), {
            ...(batchSize === undefined ? {} : { batchSize }),
            signal: options.signal,
          });
          // Nothing is recorded after an abort, even a query that finished in the meantime:
          // the partial run holds exactly the queries reported done.
          if (options.signal?.aborted) throw aborted();
          if (failure !== undefined) return;
          const ranked: Array<[string, number]> = hits.map((h) => [docIds[h.index]!, h.score]);
          reranked.set(qid, new Map(ranked));
          if (partial) appendFileSync(partial, trecLines(qid, ranked, 'crossrank'));
          documentsScored += docIds.length;
          options.onProgress?.(++done, candidates.size);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, lane));
    if (failure !== undefined) throw failure;
  } finally {
    if (typeof o.model === 'string') await model.close();
  }
  if (output && partial) {
    // In query order, whatever order the queries finished in.
    writeFileSync(output, [...candidates.keys()].map((qid) => trecLines(qid, [...reranked.get(qid)!], 'crossrank')).join(''));
    rmSync(partial);
  }

  const whole = evaluateRun(firstStage, qrels);
  const before = evaluateRun(new Map([...candidates].map(([q, ids]) => [q, new Map(ids.map((d) => [d, firstStage.get(q)!.get(d)!]))])), qrels);
  const after = evaluateRun(reranked, qrels);
  return {
    queries: candidates.size,
    rerankedQueries: candidates.size - resumedQueries,
    resumedQueries,
    documentsScored,
    seconds: (Date.now() - started) / 1000,
    firstStage: whole.mean,
    firstStageTopK: before.mean,
    reranked: after.mean,
    topK,
    output,
    perQuery: { firstStage: whole.perQuery, firstStageTopK: before.perQuery, reranked: after.perQuery },
  };
}
