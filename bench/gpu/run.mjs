#!/usr/bin/env node
// The GPU benchmark: the seed's Docs / Sec column, on this machine's GPU, side by side with
// sentence-transformers on the same card and the same pairs (fp32 and fp16).
//
//   node bench/gpu/run.mjs [--device cuda|cpu] [--models a,b] [--pairs N] [--python PATH] [--out DIR] [--runs 1,2]
//                          [--batch 512,1024] [--tokenizer-threads 4,14] [--merge] [--report-only RESULTS.json]
//
// --merge: keep the rows of other models from an earlier results file (one model per call when a
// machine limits how long one command may run). The report is rewritten after every model, so a
// run cut short keeps what it measured.
// --batch 512,1024: crossrank fp16 throughput also at these batch sizes (the default run uses 256
// on CUDA); the ratio columns take crossrank's best, as they take sentence-transformers' best.
// --report-only RESULTS.json: rewrite the Markdown report beside it, measuring nothing.
// --runs: fp16 is also run with each of these concurrentRuns values (batches in flight, each on its
// own CUDA stream), to measure what overlapping copies and host work with kernels brings.
// --tokenizer-threads 4,14: fp16 also with these tokenizer thread counts (default: the host's
// cores, at most 8), to measure whether tokenization bounds small models on the card.
//
// Runs from the repository or from the offline bundle (bench/gpu/bundle.mjs), where
// bench/gpu/tokenizer/ holds the bert-base-uncased tokenizer. `--device cpu` runs the same flow on
// the CPU provider (proves the bundle on a machine without a GPU).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { makePairs, makeRerankSets, vocabularyWords } from '../lib/pairs.mjs';
import { paddingPercent } from '../lib/protocol.mjs';
import { median } from '../lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bench = resolve(here, '..');
// Rows per run of the throughput workload unless --batch adds others.
const DEFAULT_BATCH = { cuda: 256, cpu: 32 };
const SEED_V100 = { 'tinybert-l2': 9000, 'minilm-l2': 4100, 'minilm-l4': 2500, 'minilm-l6': 1800, 'minilm-l12': 960, 'electra-base': 340 };

const { values: opt } = parseArgs({
  options: {
    device: { type: 'string', default: 'cuda' },
    models: { type: 'string', default: Object.keys(SEED_V100).join(',') },
    pairs: { type: 'string', default: '20000' },
    reps: { type: 'string', default: '5' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
    out: { type: 'string', default: join(bench, 'results') },
    'st-batch': { type: 'string', default: '32,128' },
    runs: { type: 'string', default: '1' },
    merge: { type: 'boolean', default: false },
    'parity-pairs': { type: 'string', default: '512' },
    'report-only': { type: 'string' },
    'batch': { type: 'string', default: '' },
    'tokenizer-threads': { type: 'string', default: '' },
  },
});
if (opt['report-only']) {
  const saved = JSON.parse(readFileSync(opt['report-only'], 'utf8'));
  const path = opt['report-only'].replace(/\.json$/, '.md');
  writeFileSync(path, report(saved.meta, saved.rows));
  console.log(readFileSync(path, 'utf8'));
  process.exit(0);
}
const device = opt.device;
const models = opt.models.split(',');
const pairsN = Number(opt.pairs);
const reps = Number(opt.reps);
mkdirSync(opt.out, { recursive: true });
const cache = process.env.CROSSRANK_GPU_CACHE ?? join(bench, '.cache', 'gpu-models');

function log(msg) {
  process.stderr.write(`[gpu-bench] ${msg}\n`);
}

function run(cmd, args) {
  return new Promise((ok, fail) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? ok(out) : fail(new Error(`${cmd} exited ${code}: ${err.slice(-2000)}`))));
  });
}

const tokenizerDir = existsSync(join(here, 'tokenizer', 'tokenizer.json')) ? join(here, 'tokenizer') : '';
log(`models (${models.join(', ')}) -> ${cache}`);
execFileSync(opt.python, [join(bench, 'models.py'), '--out', cache, '--only', models.join(','), '--no-gemm', ...(tokenizerDir ? ['--tokenizer', tokenizerDir] : [])], {
  stdio: ['ignore', 'inherit', 'inherit'],
});
execFileSync(opt.python, [join(here, 'fp16.py'), ...models.map((m) => join(cache, m))], { stdio: ['ignore', 'inherit', 'inherit'] });

const words = vocabularyWords(join(cache, models[0], 'tokenizer.json'));
const dataDir = mkdtempSync(join(tmpdir(), 'crossrank-gpu-bench-'));
const throughputPath = join(dataDir, 'throughput.json');
const rerankPath = join(dataDir, 'rerank.json');
writeFileSync(throughputPath, JSON.stringify(makePairs(words, pairsN, 21)));
writeFileSync(rerankPath, JSON.stringify(makeRerankSets(words, reps + 1, 100, 22)));

const stBatches = opt['st-batch'].split(',').map(Number);
const name = device === 'cuda' ? 'gpu' : 'gpu-proof-cpu';
const resultsPath = join(opt.out, `${name}.json`);
const earlier = opt.merge && existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')) : { rows: [] };
const rows = earlier.rows.filter((r) => !models.includes(r.model));
const meta = { date: new Date().toISOString(), device, pairs: pairsN, reps, stBatches, runs: opt.runs.split(',').filter(Boolean), batches: opt.batch.split(',').filter(Boolean).map(Number), tokenizerThreads: opt['tokenizer-threads'].split(',').filter(Boolean).map(Number), hostCores: availableParallelism(), parityPairs: Number(opt['parity-pairs']), command: `node bench/gpu/run.mjs ${process.argv.slice(2).join(' ')}` };
if (earlier.meta) meta.earlier = [...(earlier.meta.earlier ?? []), { date: earlier.meta.date, command: earlier.meta.command }];
for (const model of models) {
  const dir = join(cache, model);
  const row = { model, seedV100: SEED_V100[model] };
  // Arithmetic first: the device's fp32 and fp16 logits against the CPU provider's fp32.
  log(`${model}: parity against the CPU provider`);
  try {
    row.parity = JSON.parse(await run(process.execPath, [join(here, 'parity.mjs'), dir, throughputPath, opt['parity-pairs'], '--device', device]));
  } catch (error) {
    row.parity = { error: String(error.message).slice(0, 500) };
  }
  const defaultBatch = DEFAULT_BATCH[device];
  const variants = [
    ['crossrank fp32', 'onnx/model.onnx', undefined, defaultBatch],
    ['crossrank fp16', 'onnx/model_fp16.onnx', undefined, defaultBatch],
    ...meta.runs.map((r) => [`crossrank fp16 runs=${r}`, 'onnx/model_fp16.onnx', Number(r), defaultBatch]),
    ...meta.batches.map((b) => [`crossrank fp16 batch=${b}`, 'onnx/model_fp16.onnx', undefined, b]),
    ...meta.tokenizerThreads.map((t) => [`crossrank fp16 tokenizer=${t}`, 'onnx/model_fp16.onnx', undefined, defaultBatch, t]),
  ];
  for (const [label, file, concurrentRuns, batch, tokenizerThreads] of variants) {
    const batchVariant = batch !== defaultBatch;
    const job = {
      system: 'crossrank',
      model_dir: dir,
      onnx: join(dir, file),
      threads: 0,
      device,
      concurrent_runs: concurrentRuns,
      tokenizer_threads: tokenizerThreads,
      workloads: [
        { name: 'throughput', kind: 'throughput', data: throughputPath, batch_size: batch, slices: reps },
        // 100 passages fit one batch whatever its size: the batch variants skip this workload.
        ...(batchVariant ? [] : [{ name: 'rerank', kind: 'rerank', data: rerankPath, batch_size: 128, slices: reps + 1 }]),
      ],
    };
    const jobPath = join(dataDir, `job-${model}-${label.replaceAll(' ', '-')}.json`);
    writeFileSync(jobPath, JSON.stringify(job));
    log(`${model}: ${label}`);
    const res = JSON.parse(await run(process.execPath, [join(bench, 'peers', 'crossrank_peer.mjs'), jobPath]));
    meta.crossrank = res.versions;
    if (concurrentRuns === undefined && tokenizerThreads === undefined && !batchVariant) meta.crossrankDevice = res.device;
    for (const r of res.results) {
      row[`${label} ${r.name}`] = r.items / median(r.seconds);
      if (r.scheduler) row[`${label} ${r.name} scheduler`] = r.scheduler;
    }
  }
  for (const fp16 of [false, true]) {
    const label = `sentence-transformers ${fp16 ? 'fp16' : 'fp32'}`;
    const job = {
      system: 'sentence-transformers',
      model_dir: dir,
      threads: 4,
      device: device === 'cuda' ? 'cuda' : 'cpu',
      fp16,
      workloads: stBatches.map((b) => ({ name: `throughput-b${b}`, kind: 'throughput', data: throughputPath, batch_size: b, slices: reps })),
    };
    const jobPath = join(dataDir, `job-${model}-st-${fp16 ? 'fp16' : 'fp32'}.json`);
    writeFileSync(jobPath, JSON.stringify(job));
    log(`${model}: ${label}`);
    try {
      const res = JSON.parse(await run(opt.python, [join(bench, 'peers', 'python_peers.py'), jobPath]));
      meta.sentenceTransformers = res.versions;
      // The best of the batch sizes tried: the peer at its best.
      row[label] = Math.max(...res.results.map((r) => r.items / median(r.seconds)));
    } catch (error) {
      row[label] = null;
      row[`${label} error`] = String(error.message).slice(0, 500);
    }
  }
  rows.push(row);
  rows.sort((a, b) => Object.keys(SEED_V100).indexOf(a.model) - Object.keys(SEED_V100).indexOf(b.model));
  writeReport();
}
console.log(readFileSync(join(opt.out, `${name}.md`), 'utf8'));

function writeReport() {
  writeFileSync(resultsPath, JSON.stringify({ meta, rows }, null, 1));
  writeFileSync(join(opt.out, `${name}.md`), report(meta, rows));
}

/** The Markdown report of a results file's meta and rows. */
function report(meta, rows) {
  const fmt = (x) => (x == null ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(2)}x` : '–');
  const { device, pairs, reps } = meta;
  const { stBatches, runs: runsList, batches, parityPairs } = meta;
  const tokenizerList = meta.tokenizerThreads ?? [];
  const card = meta.sentenceTransformers?.gpu ?? device;
  let md = `# crossrank ${device === 'cuda' ? 'GPU' : 'CPU-provider proof of the GPU'} benchmark\n\n`;
  md += `Run ${meta.date} with \`${meta.command}\` on ${card}. Throughput: ${pairs} MS MARCO-like pairs in ${reps} slices (median); rerank: 1 query x 100 passages, ${reps} repetitions. `;
  md += `Random weights with the seed models' exact shapes: speed only. sentence-transformers (ST): the best of batch sizes ${stBatches.join(', ')}. `;
  md += `crossrank ran on ${meta.crossrankDevice?.providers?.[0] ?? '?'} with inputs in ${meta.crossrankDevice?.inputMemory ?? '?'} memory.\n\n`;
  md += `| model | seed V100 (docs/s) | ST fp32 | ST fp16 | crossrank fp32 | crossrank fp16 | crossrank fp16 rerank 1x100 | best crossrank / seed | best crossrank / ST fp16 | best crossrank / best ST |\n`;
  md += `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`;
  const crossrankBest = (r) =>
    Math.max(
      r['crossrank fp32 throughput'] ?? 0,
      r['crossrank fp16 throughput'] ?? 0,
      ...batches.map((b) => r[`crossrank fp16 batch=${b} throughput`] ?? 0),
      ...tokenizerList.map((t) => r[`crossrank fp16 tokenizer=${t} throughput`] ?? 0),
    );
  for (const r of rows) {
    const best = crossrankBest(r);
    const bestSt = Math.max(r['sentence-transformers fp32'] ?? 0, r['sentence-transformers fp16'] ?? 0);
    md += `| ${r.model} | ${r.seedV100} | ${fmt(r['sentence-transformers fp32'])} | ${fmt(r['sentence-transformers fp16'])} | ${fmt(r['crossrank fp32 throughput'])} | ${fmt(r['crossrank fp16 throughput'])} | ${fmt(r['crossrank fp16 rerank'])} | ${ratio(best, r.seedV100)} | ${ratio(best, r['sentence-transformers fp16'])} | ${ratio(best, bestSt)} |\n`;
  }
  md += `\nLogits on ${device} against the CPU provider's fp32, same model and pairs (the first ${Math.min(parityPairs, pairs)} pairs; random weights, so this checks arithmetic):\n\n`;
  md += `| model | CPU logit std | fp32 max abs diff | fp32 Spearman | fp16 max abs diff | fp16 Spearman |\n| --- | ---: | ---: | ---: | ---: | ---: |\n`;
  for (const r of rows) {
    const p = r.parity ?? {};
    const e = (x) => (x == null ? '–' : x.toExponential(1));
    const f = (x) => (x == null ? '–' : x.toFixed(5));
    md += p.error ? `| ${r.model} | failed: ${p.error.replaceAll('|', '/').replaceAll('\n', ' ').slice(0, 200)} | | | | |\n` : `| ${r.model} | ${e(p.cpuLogitStd)} | ${e(p.fp32MaxAbsDiff)} | ${f(p.fp32Spearman)} | ${e(p.fp16MaxAbsDiff)} | ${f(p.fp16Spearman)} |\n`;
  }
  if (batches.length > 0) {
    md += `\ncrossrank fp16 throughput by batch size (rows per run), docs/s:\n\n`;
    md += `| model | ${DEFAULT_BATCH[device]} (default) | ${batches.join(' | ')} |\n| --- | ---: |${batches.map(() => ' ---: |').join('')}\n`;
    for (const r of rows) md += `| ${r.model} | ${fmt(r['crossrank fp16 throughput'])} | ${batches.map((b) => fmt(r[`crossrank fp16 batch=${b} throughput`])).join(' | ')} |\n`;
  }
  const withScheduler = rows.filter((r) => r['crossrank fp16 throughput scheduler']);
  if (withScheduler.length > 0) {
    md += `\nScheduler during crossrank fp16 throughput (warm-up included): padding is the share of computed positions that were padding; windows started early are those begun half full because tokenization was behind inference (many of them: tokenization bounds the speed).\n\n`;
    md += `| model | pairs | batches | padding | windows started early |\n| --- | ---: | ---: | ---: | ---: |\n`;
    for (const r of withScheduler) {
      const s = r['crossrank fp16 throughput scheduler'];
      md += `| ${r.model} | ${s.pairs} | ${s.batches} | ${paddingPercent(s).toFixed(1)} % | ${s.earlyWindows} of ${s.windows} |\n`;
    }
  }
  if (tokenizerList.length > 0) {
    md += `\nTokenizer threads (default: the host's ${meta.hostCores} cores, at most 8), crossrank fp16 throughput / rerank 1x100, docs/s:\n\n`;
    md += `| model | default | ${tokenizerList.map((t) => `${t} threads`).join(' | ')} |\n| --- | ---: |${tokenizerList.map(() => ' ---: |').join('')}\n`;
    for (const r of rows) {
      const cell = (label) => `${fmt(r[`${label} throughput`])} / ${fmt(r[`${label} rerank`])}`;
      md += `| ${r.model} | ${cell('crossrank fp16')} | ${tokenizerList.map((t) => cell(`crossrank fp16 tokenizer=${t}`)).join(' | ')} |\n`;
    }
  }
  if (runsList.length > 0) {
    const defaultRuns = meta.crossrankDevice?.concurrentRuns;
    md += `\nBatches in flight (concurrentRuns; default here ${defaultRuns}), crossrank fp16 throughput / rerank 1x100, docs/s:\n\n`;
    md += `| model | default (${defaultRuns}) | ${runsList.map((r) => `runs=${r}`).join(' | ')} |\n| --- | ---: |${runsList.map(() => ' ---: |').join('')}\n`;
    for (const r of rows) {
      const cell = (label) => `${fmt(r[`${label} throughput`])} / ${fmt(r[`${label} rerank`])}`;
      md += `| ${r.model} | ${cell('crossrank fp16')} | ${runsList.map((n) => cell(`crossrank fp16 runs=${n}`)).join(' | ')} |\n`;
    }
  }
  return md;
}
