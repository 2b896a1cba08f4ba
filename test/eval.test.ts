// The quality harness: trec_eval-exact metrics and the BEIR re-ranking pipeline, checked against
// pytrec_eval and sentence-transformers (fixtures from test/fixtures/generate_ir.py).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CrossEncoder, CrossrankError, evaluate, evaluateRun, readQrels, readTrecRun } from '../lib/index.js';
import { FIXTURES, PYTHON, modelDir } from './helpers.js';

type Metrics = { ndcg10: number; mrr10: number; recall100: number; map: number };
type Expected = { mean: Metrics; per_query: Record<string, Metrics> };
const KEYS = ['ndcg10', 'mrr10', 'recall100', 'map'] as const;

function expectClose(got: Metrics, want: Metrics, tolerance: number, label: string): void {
  for (const k of KEYS) expect(Math.abs(got[k] - want[k]), `${label} ${k}: ${got[k]} vs ${want[k]}`).toBeLessThanOrEqual(tolerance);
}

describe('metrics equal pytrec_eval (ties, graded relevance, unjudged documents, queries without relevant documents)', () => {
  const dir = join(FIXTURES, 'metrics');
  const expected = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as Record<string, Expected>;

  it.each(Object.keys(expected))('run %s: every query and the mean to 1e-6', (name) => {
    const qrelsFile = readQrelsFile(join(dir, 'qrels.tsv'));
    const report = evaluateRun(readTrecRun(join(dir, `${name}.trec`)), qrelsFile);
    const want = expected[name]!;
    expect(report.queries).toBe(Object.keys(want.per_query).length);
    for (const [qid, m] of Object.entries(want.per_query)) expectClose(report.perQuery.get(qid)!, m, 1e-6, `${name}/${qid}`);
    expectClose(report.mean, want.mean, 1e-6, `${name}/mean`);
  });
});

function readQrelsFile(path: string) {
  // readQrels reads <dir>/qrels/<split>.tsv; the corner-case fixture keeps qrels.tsv at its top.
  const dir = mkdtempSync(join(tmpdir(), 'crossrank-qrels-'));
  const sub = join(dir, 'qrels');
  mkdirSync(sub, { recursive: true });
  copyFileSync(path, join(sub, 'test.tsv'));
  return readQrels(dir, 'test');
}

describe('crossrank eval on a BEIR-format fixture', () => {
  const data = join(FIXTURES, 'beir-tiny');
  const expected = JSON.parse(readFileSync(join(data, 'expected.json'), 'utf8')) as {
    bm25: Expected;
    reranked: Expected;
    top_k: number;
    documents: number;
  };

  it('reproduces sentence-transformers + pytrec_eval on the same pipeline, and writes the reranked run', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'crossrank-eval-')), 'reranked.trec');
    const progress: number[] = [];
    const report = await evaluate({
      data,
      run: join(data, 'run.bm25.trec'),
      model: modelDir('bert-tiny'),
      output: out,
      topK: expected.top_k,
      onProgress: (done) => progress.push(done),
    });
    expect(report.documentsScored).toBe(expected.documents);
    expectClose(report.firstStage, expected.bm25.mean, 1e-6, 'bm25');
    expectClose(report.reranked, expected.reranked.mean, 1e-4, 'reranked');
    expect(progress.at(-1)).toBe(report.queries);
    // The written run scores the same as the report when read back.
    const again = evaluateRun(readTrecRun(out), readQrels(data));
    expectClose(again.mean, report.reranked, 1e-9, 'file');
    expect(existsSync(`${out}.partial`)).toBe(false);
  });

  it('resumes an interrupted run: finished queries are not scored again, results are the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-resume-'));
    const out = join(dir, 'reranked.trec');
    const controller = new AbortController();
    let seen = 0;
    const first = evaluate({
      data,
      run: join(data, 'run.bm25.trec'),
      model: modelDir('bert-tiny'),
      output: out,
      topK: expected.top_k,
      signal: controller.signal,
      onProgress: (done) => {
        seen = done;
        if (done === 4) controller.abort();
      },
    });
    await expect(first).rejects.toMatchObject({ code: 'ABORTED' });
    expect(seen).toBe(4);
    expect(readFileSync(`${out}.partial`, 'utf8').trim().split('\n').length).toBe(4 * expected.top_k);
    const resumed = await evaluate({ data, run: join(data, 'run.bm25.trec'), model: modelDir('bert-tiny'), output: out, topK: expected.top_k });
    expect(resumed.resumedQueries).toBe(4);
    expect(resumed.documentsScored).toBe(expected.documents - 4 * expected.top_k);
    expectClose(resumed.reranked, expected.reranked.mean, 1e-4, 'resumed');
  });

  it('keeps `concurrency` queries in flight; the run and its file are the same as one query at a time', async () => {
    const model = await CrossEncoder.load(modelDir('bert-tiny'));
    const rerank = model.rerank.bind(model);
    let inFlight = 0;
    let most = 0;
    let calls = 0;
    model.rerank = (async (...args: Parameters<typeof rerank>) => {
      most = Math.max(most, ++inFlight);
      const call = ++calls;
      try {
        const hits = await rerank(...args);
        // The first query of each evaluation finishes last.
        if (call === 1 || call === 11) await new Promise((resolve) => setTimeout(resolve, 50));
        return hits;
      } finally {
        inFlight--;
      }
    }) as typeof model.rerank;
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-concurrency-'));
    const run = join(data, 'run.bm25.trec');
    const one = await evaluate({ data, run, model, topK: expected.top_k, concurrency: 1, output: join(dir, 'one.trec') });
    expect(most).toBe(1);
    const four = await evaluate({ data, run, model, topK: expected.top_k, concurrency: 4, output: join(dir, 'four.trec') });
    expect(most).toBe(4);
    expectClose(four.reranked, one.reranked, 1e-6, 'concurrency 4');
    for (const [qid, m] of one.perQuery.reranked) expectClose(four.perQuery.reranked.get(qid)!, m, 1e-6, qid);
    // Written in query order whatever order the queries finished in: the same documents in the
    // same places (scores may differ in the last digits, batches being formed differently).
    const columns = (file: string) => readFileSync(file, 'utf8').trim().split('\n').map((line) => line.split(' ').slice(0, 4).join(' '));
    expect(columns(join(dir, 'four.trec'))).toEqual(columns(join(dir, 'one.trec')));
    await expect(evaluate({ data, run, model, concurrency: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A failure stops the other lanes and rejects once the calls in flight have settled.
    const failing = evaluate({
      data,
      run,
      model,
      topK: 5,
      concurrency: 4,
      onProgress: (done) => {
        if (done === 2) throw new Error('progress callback failed');
      },
    });
    await expect(failing).rejects.toThrow('progress callback failed');
    expect(inFlight).toBe(0);
    await model.close();
  });

  it('accepts a loaded model and leaves it open', async () => {
    const model = await CrossEncoder.load(modelDir('bert-tiny'));
    const report = await evaluate({ data, run: join(data, 'run.bm25.trec'), model, topK: 5 });
    expect(report.documentsScored).toBe(5 * report.queries);
    expect(model.closed).toBe(false);
    await model.close();
  });

  it('bad inputs are coded errors', async () => {
    const run = join(data, 'run.bm25.trec');
    await expect(evaluate({ data: '/nonexistent', run, model: modelDir('bert-tiny') })).rejects.toBeInstanceOf(CrossrankError);
    const bad = join(mkdtempSync(join(tmpdir(), 'crossrank-badrun-')), 'run.trec');
    writeFileSync(bad, 'q0 Q0 nosuchdoc 1 3.5 x\n');
    await expect(evaluate({ data, run: bad, model: modelDir('bert-tiny') })).rejects.toThrow(/not in corpus\.jsonl/);
    await expect(evaluate({ data, run, model: modelDir('bert-tiny'), topK: 0 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('the CLI prints both metric rows and writes the run', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'crossrank-cli-')), 'r.trec');
    const cli = spawnSync(
      process.execPath,
      [join(__dirname, '..', 'dist', 'cli.js'), 'eval', '--model', modelDir('bert-tiny'), '--data', data, '--run', join(data, 'run.bm25.trec'), '--top-k', '20', '--output', out, '--json'],
      { encoding: 'utf8' },
    );
    expect(cli.status, cli.stderr).toBe(0);
    const summary = JSON.parse(cli.stdout);
    expectClose(summary.reranked, expected.reranked.mean, 1e-4, 'cli');
    expect(existsSync(out)).toBe(true);
  });
});

describe('first-stage metrics: the run file as trec_eval scores it, and its top k apart', () => {
  it('a run deeper than top k: firstStage equals pytrec_eval on the whole run, firstStageTopK pytrec_eval on the cut run', async () => {
    const data = join(FIXTURES, 'beir-tiny');
    const run = join(data, 'run.bm25.trec');
    const topK = 5;
    const report = await evaluate({ data, run, model: modelDir('bert-tiny'), topK });
    // pytrec_eval on the whole run file and on each query's top 5 (trec_eval order), as generate_ir.py scores runs.
    const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(FIXTURES)})
from generate_ir import pytrec_metrics, trec_order
qrels, full = {}, {}
for line in open(${JSON.stringify(join(data, 'qrels', 'test.tsv'))}).read().splitlines()[1:]:
    q, d, r = line.split("\\t")
    qrels.setdefault(q, {})[d] = int(r)
for line in open(${JSON.stringify(run)}).read().splitlines():
    q, _, d, _, s, _ = line.split()
    full.setdefault(q, {})[d] = float(s)
cut = {q: {d: docs[d] for d in trec_order(docs)[:${topK}]} for q, docs in full.items()}
print(json.dumps({"full": pytrec_metrics(qrels, full)["mean"], "cut": pytrec_metrics(qrels, cut)["mean"]}))
`;
    const py = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', timeout: 120_000 });
    expect(py.status, py.stderr).toBe(0);
    const want = JSON.parse(py.stdout.trim().split('\n').pop()!) as { full: Metrics; cut: Metrics };
    expectClose(report.firstStage, want.full, 1e-6, 'whole run');
    expectClose(report.firstStageTopK, want.cut, 1e-6, 'top k');
    // The case the label was wrong for: the two differ when the run is deeper than top k.
    expect(Math.abs(report.firstStage.recall100 - report.firstStageTopK.recall100)).toBeGreaterThan(1e-3);
    expect(report.topK).toBe(topK);
  }, 120_000);
});
