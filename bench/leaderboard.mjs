#!/usr/bin/env node
// Reproduces the NDCG@10 cells of the seed leaderboard: every model x every BEIR dataset,
// reranking the given first-stage (BM25 top-100) runs, and writes the table in the seed's layout.
//
//   node bench/leaderboard.mjs --seed --data BEIR_DIR --runs RUNS_DIR [--out DIR] [--top-k 100] [--device cpu|auto|cuda] [--precision fp32|fp16|int8]
//   node bench/leaderboard.mjs --model ID_OR_DIR [--model ...] --data ... --runs ...
//   node bench/leaderboard.mjs --models MODELS_DIR --data ... --runs ...
//
//   --seed                         the seed table's six models, by Hugging Face hub id (downloaded
//                                  once into the HF cache; needs the network the first time)
//   --model ID_OR_DIR              a hub id (org/name[@revision]) or a model folder; repeatable
//   MODELS_DIR/<model>/            crossrank model folders (e.g. from `crossrank convert`)
//   BEIR_DIR/<dataset>/            BEIR folders (corpus.jsonl, queries.jsonl, qrels/test.tsv or dev.tsv)
//   RUNS_DIR/<dataset>.trec        first-stage runs in TREC format (BM25 top-100, see docs/evaluation.md)
// Writes OUT_DIR/leaderboard.md, OUT_DIR/leaderboard.json and each reranked run as
// OUT_DIR/runs/<model>/<dataset>.trec. Interrupted runs resume where they stopped.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { evaluate } from '../dist/index.js';

// The seed leaderboard's models, under the hub's current names (the old ms-marco-MiniLM-L-6-v2
// style names redirect to these).
const SEED_MODELS = [
  'cross-encoder/ms-marco-TinyBERT-L2-v2',
  'cross-encoder/ms-marco-MiniLM-L2-v2',
  'cross-encoder/ms-marco-MiniLM-L4-v2',
  'cross-encoder/ms-marco-MiniLM-L6-v2',
  'cross-encoder/ms-marco-MiniLM-L12-v2',
  'cross-encoder/ms-marco-electra-base',
];

const { values } = parseArgs({
  options: {
    models: { type: 'string' },
    model: { type: 'string', multiple: true },
    seed: { type: 'boolean' },
    precision: { type: 'string' },
    data: { type: 'string' },
    runs: { type: 'string' },
    out: { type: 'string', default: 'leaderboard' },
    'top-k': { type: 'string', default: '100' },
    device: { type: 'string', default: 'cpu' },
  },
});
if ((!values.models && !values.model && !values.seed) || !values.data || !values.runs) {
  console.error(
    'usage: node bench/leaderboard.mjs (--seed | --model ID_OR_DIR ... | --models DIR) --data DIR --runs DIR [--out DIR] [--top-k 100] [--device cpu|auto|cuda] [--precision fp32|fp16|int8]',
  );
  process.exit(2);
}
const dirs = (p) => readdirSync(p).filter((n) => statSync(join(p, n)).isDirectory()).sort();
// Each model: its row name and what CrossEncoder.load takes (a folder path or a hub id).
const sources = new Map();
if (values.models) for (const name of dirs(values.models)) sources.set(name, join(values.models, name));
for (const id of [...(values.seed ? SEED_MODELS : []), ...(values.model ?? [])]) {
  sources.set(id.replace(/\/+$/, '').split('/').pop().split('@')[0], id);
}
const models = [...sources.keys()];
const datasets = dirs(values.data).filter((d) => existsSync(join(values.runs, `${d}.trec`)));
const topK = Number(values['top-k']);
mkdirSync(join(values.out, 'runs'), { recursive: true });

const cells = {};
for (const model of models) {
  cells[model] = {};
  for (const dataset of datasets) {
    const data = join(values.data, dataset);
    const split = existsSync(join(data, 'qrels', 'test.tsv')) ? 'test' : 'dev';
    mkdirSync(join(values.out, 'runs', model), { recursive: true });
    const started = Date.now();
    const report = await evaluate({
      data,
      run: join(values.runs, `${dataset}.trec`),
      model: sources.get(model),
      output: join(values.out, 'runs', model, `${dataset}.trec`),
      topK,
      split,
      loadOptions: {
        device: values.device,
        ...(values.precision ? { precision: values.precision } : {}),
        onProgress: (p) => process.stderr.write(`\r${model}: downloading ${p.file} ${(p.loaded / 1e6).toFixed(1)} of ${(p.total / 1e6).toFixed(1)} MB`),
      },
      onProgress: (d, t) => process.stderr.write(`\r${model} / ${dataset}: ${d}/${t} queries`),
    });
    process.stderr.write(`  ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    const { perQuery: _perQuery, ...summary } = report;
    cells[model][dataset] = { split, ...summary };
  }
}

let md = `| Model-Name | ${datasets.join(' | ')} |\n| :--- | ${datasets.map(() => ':---').join(' | ')} |\n`;
for (const model of models) {
  md += `| ${model} | ${datasets.map((d) => cells[model][d].reranked.ndcg10.toFixed(3)).join(' | ')} |\n`;
}
md += `| (first stage) | ${datasets.map((d) => cells[models[0]][d].firstStage.ndcg10.toFixed(3)).join(' | ')} |\n`;
writeFileSync(join(values.out, 'leaderboard.md'), `NDCG@10, reranking the top ${topK} of the given first-stage runs.\n\n${md}`);
writeFileSync(join(values.out, 'leaderboard.json'), JSON.stringify({ topK, cells }, null, 1));
console.log(md);
