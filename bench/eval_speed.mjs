// Speed of the BEIR evaluation loop (`evaluate()`, `crossrank eval`) on a synthetic BEIR folder:
// QUERIES MS MARCO-like queries with 100 passages each, written as corpus.jsonl, queries.jsonl,
// qrels/test.tsv and a first-stage run. Reports documents scored per second for each setting of
// queries in flight (`concurrency`) and for the former default (one query at a time, batches of
// 32 rows), alternating settings over REPS rounds. Speed only: the model has random weights.
//
//   node bench/eval_speed.mjs MODEL_DIR [--queries 40] [--reps 3] [--concurrency 1,8] [--device cpu] [--precision fp32]
// In the GPU bundle: ./run.sh eval-speed MODEL_DIR --device cuda --precision fp16 ...
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CrossEncoder, evaluate } from '../dist/index.js';
import { makeRerankSets, vocabularyWords } from './lib/pairs.mjs';
import { median } from './lib/report.mjs';

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    queries: { type: 'string', default: '40' },
    reps: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '1,8' },
    device: { type: 'string', default: 'cpu' },
    precision: { type: 'string', default: 'fp32' },
  },
});
const dir = positionals[0];
if (!dir) throw new Error('usage: node bench/eval_speed.mjs MODEL_DIR [--queries N] [--reps N] [--concurrency 1,8] [--device D] [--precision P]');
const sets = makeRerankSets(vocabularyWords(`${dir}/tokenizer.json`), Number(opt.queries), 100, 7);
const data = mkdtempSync(join(tmpdir(), 'crossrank-eval-speed-'));
mkdirSync(join(data, 'qrels'));
const corpus = [];
const queries = [];
const qrels = ['query-id\tcorpus-id\tscore'];
const run = [];
sets.forEach((set, q) => {
  queries.push(JSON.stringify({ _id: `q${q}`, text: set.query }));
  set.documents.forEach((text, d) => {
    corpus.push(JSON.stringify({ _id: `d${q}-${d}`, title: '', text }));
    run.push(`q${q} Q0 d${q}-${d} ${d + 1} ${100 - d} bm25`);
    if (d % 10 === 0) qrels.push(`q${q}\td${q}-${d}\t1`);
  });
});
writeFileSync(join(data, 'corpus.jsonl'), `${corpus.join('\n')}\n`);
writeFileSync(join(data, 'queries.jsonl'), `${queries.join('\n')}\n`);
writeFileSync(join(data, 'qrels', 'test.tsv'), `${qrels.join('\n')}\n`);
writeFileSync(join(data, 'run.trec'), `${run.join('\n')}\n`);

const model = await CrossEncoder.load(dir, { device: opt.device, precision: opt.precision });
console.log(`${model.info.device}, ${opt.precision}, ${sets.length} queries x 100 documents`);
const settings = [
  { name: 'one query at a time, batches of 32 rows (former default)', options: { concurrency: 1, batchSize: 32 } },
  ...opt.concurrency.split(',').map((c) => ({ name: `concurrency ${c}`, options: { concurrency: Number(c) } })),
];
const rates = settings.map(() => []);
await evaluate({ data, run: join(data, 'run.trec'), model, topK: 100 }); // warm-up
for (let r = 0; r < Number(opt.reps); r++) {
  for (const [i, s] of settings.entries()) {
    const report = await evaluate({ data, run: join(data, 'run.trec'), model, topK: 100, ...s.options });
    rates[i].push(report.documentsScored / report.seconds);
  }
}
for (const [i, s] of settings.entries()) {
  console.log(`${dir.split('/').pop()} ${s.name}: ${Math.round(median(rates[i]))} docs/s (${rates[i].map(Math.round).join(', ')})`);
}
await model.close();
