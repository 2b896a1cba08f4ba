// Readers and writers for BEIR data folders and TREC run files.
//   corpus.jsonl   {"_id", "title", "text"} per line
//   queries.jsonl  {"_id", "text"} per line
//   qrels/<split>.tsv  "query-id<TAB>corpus-id<TAB>score" with a header line
//   TREC run       "qid Q0 docid rank score tag" per line
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { CrossrankError } from '../errors.js';
import type { Qrels, Run } from './metrics.js';

function need(path: string, what: string): string {
  if (!existsSync(path)) throw new CrossrankError('INVALID_ARGUMENT', `${what} not found: ${path}`);
  return path;
}

async function* jsonLines(path: string): AsyncGenerator<Record<string, unknown>> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new CrossrankError('INVALID_ARGUMENT', `${path}:${n}: not valid JSON (${(error as Error).message})`);
    }
    if (!value || typeof value !== 'object') throw new CrossrankError('INVALID_ARGUMENT', `${path}:${n}: not a JSON object`);
    yield value as Record<string, unknown>;
  }
}

const idOf = (v: Record<string, unknown>): string => String(v._id ?? v.id ?? '');

export async function readQueries(dataDir: string): Promise<Map<string, string>> {
  const queries = new Map<string, string>();
  for await (const q of jsonLines(need(join(dataDir, 'queries.jsonl'), 'queries.jsonl'))) {
    queries.set(idOf(q), String(q.text ?? ''));
  }
  return queries;
}

/**
 * Documents of the corpus as BEIR's reranker forms them ("title text"), streamed: only the ids in
 * `wanted` are kept, so a corpus of millions of documents costs the memory of the ones reranked.
 */
export async function readCorpus(dataDir: string, wanted: Set<string>): Promise<Map<string, string>> {
  const docs = new Map<string, string>();
  for await (const d of jsonLines(need(join(dataDir, 'corpus.jsonl'), 'corpus.jsonl'))) {
    const id = idOf(d);
    if (!wanted.has(id)) continue;
    docs.set(id, `${String(d.title ?? '')} ${String(d.text ?? '')}`.trim());
  }
  return docs;
}

/**
 * A BEIR folder's `qrels/<split>.tsv` (query-id, corpus-id, score; a header line is skipped).
 * Errors: INVALID_ARGUMENT when the file is missing or a grade is not a number.
 */
export function readQrels(dataDir: string, split = 'test'): Qrels {
  const path = need(join(dataDir, 'qrels', `${split}.tsv`), `qrels/${split}.tsv`);
  const qrels: Qrels = new Map();
  readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .forEach((line, i) => {
      const cols = line.trim().split(/\t|\s+/);
      if (cols.length < 3 || (i === 0 && Number.isNaN(Number(cols[2])))) return; // header or blank
      const [qid, docid, grade] = cols as [string, string, string];
      const g = Number(grade);
      if (!Number.isFinite(g)) throw new CrossrankError('INVALID_ARGUMENT', `${path}:${i + 1}: relevance is not a number`);
      if (!qrels.has(qid)) qrels.set(qid, new Map());
      qrels.get(qid)!.set(docid, g);
    });
  return qrels;
}

/**
 * A run in TREC format ("qid Q0 docid rank score tag" per line; the rank column is ignored, the
 * score orders). `source` names the text in error messages. Errors: INVALID_ARGUMENT on a line
 * with fewer than 6 columns or a score that is not a number.
 */
export function parseTrecRun(text: string, source = 'run'): Run {
  const run: Run = new Map();
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const cols = line.trim().split(/\s+/);
    if (cols.length < 6) throw new CrossrankError('INVALID_ARGUMENT', `${source}:${i + 1}: expected "qid Q0 docid rank score tag"`);
    const [qid, , docid, , score] = cols as [string, string, string, string, string];
    const s = Number(score);
    if (!Number.isFinite(s)) throw new CrossrankError('INVALID_ARGUMENT', `${source}:${i + 1}: score is not a number`);
    if (!run.has(qid)) run.set(qid, new Map());
    run.get(qid)!.set(docid, s);
  });
  return run;
}

/** parseTrecRun() of a file. Errors: INVALID_ARGUMENT when it is missing or malformed. */
export function readTrecRun(path: string): Run {
  return parseTrecRun(readFileSync(need(path, 'run file'), 'utf8'), path);
}

/** TREC lines of one query, in the given order, ranks from 1. */
export function trecLines(qid: string, ranked: Array<[string, number]>, tag: string): string {
  return ranked.map(([doc, score], i) => `${qid} Q0 ${doc} ${i + 1} ${score} ${tag}\n`).join('');
}
