#!/usr/bin/env node
// The CPU benchmark: crossrank and its peers, side by side, in one run, on the same ONNX files,
// the same pairs and the same thread count (see ../shared/BENCHMARKS.md and bench/README.md).
//
//   npm run bench                 full run: six seed architectures, every peer, writes
//                                 bench/results/cpu-<date>.json, bench/RESULTS.md, bench/results/cpu-<date>.svg
//   npm run bench -- --smoke      under a minute: a tiny fixture model, Node peers only, temp output
//
// Options: --models a,b  --full-models a,b  --systems a,b  --threads N  --python PATH  --out DIR
//          --pairs N (throughput pairs, default 10000)  --peers-python PATH (the venv of bench/requirements-peers.txt: the st-openvino peers)
//          --report-only results/cpu-<date>.json   (rewrites the report of a saved run)
// Systems st-openvino and st-openvino-int8 (sentence-transformers' OpenVINO backend at its default
// precision, and its static int8 export) run with --peers-python; they are in the default list
// only when that interpreter is given (or CROSSRANK_PEERS_PYTHON is set).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { makePairs, makeRerankSets, vocabularyWords } from './lib/pairs.mjs';
import { qualityAgainstTorch } from './lib/rank_quality.mjs';
import { lastLine, writeReport } from './lib/report.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..');

const SEED = {
  'tinybert-l2': { seed: 'cross-encoder/ms-marco-TinyBERT-L-2-v2', seedDocsPerSec: 9000 },
  'minilm-l2': { seed: 'cross-encoder/ms-marco-MiniLM-L-2-v2', seedDocsPerSec: 4100 },
  'minilm-l4': { seed: 'cross-encoder/ms-marco-MiniLM-L-4-v2', seedDocsPerSec: 2500 },
  'minilm-l6': { seed: 'cross-encoder/ms-marco-MiniLM-L-6-v2', seedDocsPerSec: 1800 },
  'minilm-l12': { seed: 'cross-encoder/ms-marco-MiniLM-L-12-v2', seedDocsPerSec: 960 },
  'electra-base': { seed: 'cross-encoder/ms-marco-electra-base', seedDocsPerSec: 340 },
};
const ALL_SYSTEMS = [
  'crossrank',
  'crossrank-int8',
  'onnxruntime-python',
  'onnxruntime-python-int8',
  'transformers.js',
  'transformers.js-int8',
  'sentence-transformers',
];
const OPENVINO_SYSTEMS = ['st-openvino', 'st-openvino-f32', 'st-openvino-int8'];
// ONNX Runtime's OpenVINO execution provider (the onnxruntime-openvino wheel) on crossrank's own
// files: whether that EP would be the faster CPU path for crossrank (issue 25). Its wheel replaces
// the `onnxruntime` module, so it has a venv of its own (--ortov-python).
const ORT_OPENVINO_SYSTEMS = ['ort-openvino-ep', 'ort-openvino-ep-int8'];
const PEER_SCRIPT = {
  crossrank: ['node', join(here, 'peers', 'crossrank_peer.mjs')],
  'crossrank-int8': ['node', join(here, 'peers', 'crossrank_peer.mjs')],
  'transformers.js': ['node', join(here, 'peers', 'transformers_js_peer.mjs')],
  'transformers.js-int8': ['node', join(here, 'peers', 'transformers_js_peer.mjs')],
  'transformers.js-tokenizer': ['node', join(here, 'peers', 'transformers_js_peer.mjs')],
  'onnxruntime-python': ['python', join(here, 'peers', 'python_peers.py')],
  'onnxruntime-python-int8': ['python', join(here, 'peers', 'python_peers.py')],
  'sentence-transformers': ['python', join(here, 'peers', 'python_peers.py')],
  'st-openvino': ['peers-python', join(here, 'peers', 'python_peers.py')],
  'st-openvino-int8': ['peers-python', join(here, 'peers', 'python_peers.py')],
  'st-openvino-f32': ['peers-python', join(here, 'peers', 'python_peers.py')],
  'ort-openvino-ep': ['ortov-python', join(here, 'peers', 'python_peers.py')],
  'ort-openvino-ep-int8': ['ortov-python', join(here, 'peers', 'python_peers.py')],
  'hf-tokenizers': ['python', join(here, 'peers', 'python_peers.py')],
};

const { values: opt } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: false },
    models: { type: 'string' },
    'full-models': { type: 'string' },
    systems: { type: 'string' },
    threads: { type: 'string' },
    python: { type: 'string' },
    'peers-python': { type: 'string' },
    'ortov-python': { type: 'string' },
    pairs: { type: 'string' },
    out: { type: 'string' },
    'report-only': { type: 'string' },
  },
});

// --report-only FILE: rewrite RESULTS.md, the chart and FILE from a saved run's raw data.
if (opt['report-only']) {
  const file = resolve(opt['report-only']);
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  const markdown = saved.meta.smoke ? join(dirname(file), 'RESULTS.md') : join(here, 'RESULTS.md');
  console.log(writeReport(saved, { outDir: dirname(file), markdown }).join('\n'));
  process.exit(0);
}

const threads = Number(opt.threads ?? cpus().length);
const python = opt.python ?? (existsSync(join(root, '.venv/bin/python')) ? join(root, '.venv/bin/python') : 'python3');
const peersPython = opt['peers-python'] ?? process.env.CROSSRANK_PEERS_PYTHON;
const smoke = opt.smoke;
const ortovPython = opt['ortov-python'] ?? process.env.CROSSRANK_ORTOV_PYTHON;
const defaultSystems = [...ALL_SYSTEMS, ...(peersPython ? OPENVINO_SYSTEMS : []), ...(ortovPython ? ORT_OPENVINO_SYSTEMS : [])];
const systems = (opt.systems ?? (smoke ? 'crossrank,transformers.js' : defaultSystems.join(','))).split(',');
if (!peersPython && systems.some((s) => OPENVINO_SYSTEMS.includes(s))) {
  throw new Error(`${OPENVINO_SYSTEMS.join(', ')} need --peers-python (a venv with bench/requirements-peers.txt)`);
}
if (!ortovPython && systems.some((s) => ORT_OPENVINO_SYSTEMS.includes(s))) {
  throw new Error(`${ORT_OPENVINO_SYSTEMS.join(', ')} need --ortov-python (a venv with bench/requirements-ortov.txt)`);
}
for (const s of systems) if (!PEER_SCRIPT[s]) throw new Error(`unknown system ${s}; known: ${Object.keys(PEER_SCRIPT).join(', ')}`);
const cache = join(here, '.cache');
const outDir = opt.out ?? (smoke ? mkdtempSync(join(tmpdir(), 'crossrank-bench-')) : join(here, 'results'));
mkdirSync(outDir, { recursive: true });
// Pairs, jobs and the smoke model go to a scratch folder: only results land in outDir.
const workDir = mkdtempSync(join(tmpdir(), 'crossrank-bench-work-'));

// Sizes: the full protocol (BENCHMARKS.md) and the smoke version.
const SIZES = smoke
  ? { rerankSets: 3, docs: 10, pairs: 50, sweepPairs: 20, longPairs: 5, longWords: 450, tokenizePairs: 50, reps: 2 }
  : { rerankSets: 6, docs: 100, pairs: 10000, sweepPairs: 500, longPairs: 100, longWords: 450, tokenizePairs: 10000, reps: 5 };
// --pairs N: a shorter throughput and tokenizer run (a check of a new peer, a crowded machine)
if (opt.pairs) SIZES.pairs = SIZES.tokenizePairs = Number(opt.pairs);
const BATCH_SIZES = [1, 8, 32, 128];

// ---------------------------------------------------------------------------------------------
function progress(done, total, label) {
  const width = 30;
  const filled = Math.round((done / total) * width);
  process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label.padEnd(60).slice(0, 60)}`);
  if (done === total) process.stderr.write('\n');
}

function run(cmd, args, input) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err.slice(-3000)}`)),
    );
  });
}

function prepareModels() {
  if (smoke) {
    // The fixture model in the hub's layout (onnx/model.onnx), which transformers.js expects.
    const dir = join(workDir, 'models', 'bert-tiny');
    mkdirSync(join(dir, 'onnx'), { recursive: true });
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      cpSync(join(root, 'test/fixtures/models/bert-tiny', f), join(dir, f));
    }
    cpSync(join(root, 'test/fixtures/models/bert-tiny/model.onnx'), join(dir, 'onnx/model.onnx'));
    return { dir: join(workDir, 'models'), names: ['bert-tiny'], full: ['bert-tiny'] };
  }
  const names = (opt.models ?? Object.keys(SEED).join(',')).split(',');
  const full = (opt['full-models'] ?? 'tinybert-l2,minilm-l6').split(',').filter((n) => names.includes(n));
  process.stderr.write(`generating/caching models (${names.join(', ')}) with ${python} bench/models.py\n`);
  execFileSync(python, [join(here, 'models.py'), '--out', join(cache, 'models'), '--only', names.join(',')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { dir: join(cache, 'models'), names, full };
}

function writeData(modelsDir, name) {
  const dataDir = join(workDir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const words = vocabularyWords(join(modelsDir, name, 'tokenizer.json'));
  const files = {
    rerank: makeRerankSets(words, SIZES.rerankSets, SIZES.docs, 11),
    throughput: makePairs(words, SIZES.pairs, 12),
    sweep: makePairs(words, SIZES.sweepPairs, 13),
    long: makePairs(words, SIZES.longPairs, 14, SIZES.longWords),
    tokenize: makePairs(words, SIZES.tokenizePairs, 15),
    // static int8 calibration (st-openvino-int8): local pairs, disjoint from the timed ones
    calibration: makePairs(words, 128, 16),
  };
  const paths = {};
  for (const [k, v] of Object.entries(files)) {
    paths[k] = join(dataDir, `${k}.json`);
    writeFileSync(paths[k], JSON.stringify(v));
  }
  return paths;
}

function workloadsFor(isFull, data, system) {
  const reps = SIZES.reps;
  // crossrank batches by its token budget (its default); the peers use batch 32, their default.
  const own = system.startsWith('crossrank') ? null : 32;
  // rerank: one query x `docs` passages per timed repetition, a different query each time.
  const list = [{ name: 'rerank', kind: 'rerank', data: data.rerank, batch_size: own, slices: SIZES.rerankSets }];
  // int8 (onnx/model_quantized.onnx, the same file for every system): rerank and throughput; the
  // peers' int8 rows only on the fully measured models.
  if (system.endsWith('-int8')) {
    if (system !== 'crossrank-int8' && !isFull) return [];
    if (isFull) list.push({ name: 'throughput', kind: 'throughput', data: data.throughput, batch_size: own, slices: reps });
    return list;
  }
  if (isFull) {
    list.push({ name: 'throughput', kind: 'throughput', data: data.throughput, batch_size: own, slices: reps });
    for (const b of BATCH_SIZES) list.push({ name: `batch-${b}`, kind: 'throughput', data: data.sweep, batch_size: b, slices: reps });
    list.push({ name: 'long', kind: 'throughput', data: data.long, batch_size: 8, slices: reps });
  }
  return list;
}

/** A failed peer's message: the command line, then the end of its stderr, where Python's exception is. */
function errorText(error) {
  const text = String(error.message ?? error);
  return text.length <= 2000 ? text : `${text.split('\n')[0]}\n...\n${text.slice(-1800)}`;
}

async function runPeer(system, job) {
  const [kind, script] = PEER_SCRIPT[system];
  const jobPath = join(workDir, `job-${system}-${Date.now()}.json`);
  const int8 = system.endsWith('-int8');
  writeFileSync(jobPath, JSON.stringify({ ...job, system: int8 ? system.slice(0, -'-int8'.length) : system, int8 }));
  const interpreter = kind === 'node' ? process.execPath : kind === 'peers-python' ? peersPython : kind === 'ortov-python' ? ortovPython : python;
  const out = await run(interpreter, [script, jobPath]);
  return JSON.parse(out);
}

// The instruction-set flags that decide which kernels ONNX Runtime and OpenVINO pick (int8 dot
// products, bf16, AMX).
const KERNEL_FLAGS = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'avx512_fp16', 'amx_bf16', 'amx_int8', 'amx_tile'];

function machine() {
  const cpu = cpus()[0]?.model ?? 'unknown';
  let flags = [];
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('flags')) ?? '';
    const have = new Set(line.split(':')[1]?.trim().split(/\s+/) ?? []);
    flags = KERNEL_FLAGS.filter((f) => have.has(f));
  } catch {
    // not Linux: no /proc/cpuinfo
  }
  return { nproc: cpus().length, cpu, flags, node: process.version, platform: `${process.platform}-${process.arch}` };
}


async function main() {
  const started = new Date();
  const models = prepareModels();
  const steps = [];
  for (const name of models.names) for (const s of systems) steps.push({ name, system: s });
  const tokenizerSystems = smoke ? ['crossrank', 'transformers.js-tokenizer'] : ['crossrank', 'hf-tokenizers', 'transformers.js-tokenizer'];
  const total = steps.length + tokenizerSystems.length + 1;
  let done = 0;
  const runs = [];
  const versions = {};
  const errors = [];

  progress(done, total, 'GEMM peak');
  let gemm = null;
  const gemmModel = join(cache, 'models', 'gemm.onnx');
  const benchBin = join(root, 'build', 'Release', 'crossrank-bench');
  if (existsSync(gemmModel) && existsSync(benchBin)) {
    gemm = JSON.parse(execFileSync(benchBin, ['gemm', gemmModel, String(threads), '7'], { encoding: 'utf8' }));
  }
  progress(++done, total, 'GEMM peak');

  const configs = {};
  let tokenizeData;
  for (const name of models.names) {
    const data = writeData(models.dir, name);
    tokenizeData ??= { data, dir: join(models.dir, name) };
    configs[name] = JSON.parse(readFileSync(join(models.dir, name, 'config.json'), 'utf8'));
    for (const system of systems) {
      progress(done, total, `${name}: ${system}`);
      const onnxFile = system.endsWith('-int8') ? 'model_quantized.onnx' : 'model.onnx';
      const workloads = workloadsFor(models.full.includes(name), data, system);
      if (workloads.length === 0 || !existsSync(join(models.dir, name, 'onnx', onnxFile))) {
        progress(++done, total, `${name}: ${system} (no ${onnxFile})`);
        continue;
      }
      const job = {
        model_dir: join(models.dir, name),
        onnx: join(models.dir, name, 'onnx', onnxFile),
        threads,
        workloads,
        calibration: data.calibration,
      };
      try {
        const res = await runPeer(system, job);
        Object.assign(versions, res.versions);
        for (const r of res.results) {
          const w = job.workloads.find((x) => x.name === r.name);
          runs.push({ model: name, system, workload: r.name, kind: w.kind, batch_size: w.batch_size, ...r });
        }
      } catch (error) {
        errors.push({ model: name, system, error: errorText(error) });
      }
      progress(++done, total, `${name}: ${system}`);
    }
  }

  for (const system of tokenizerSystems) {
    progress(done, total, `tokenizer: ${system}`);
    const job = {
      model_dir: tokenizeData.dir,
      onnx: join(tokenizeData.dir, 'onnx', 'model.onnx'),
      threads,
      workloads: [{ name: 'tokenize', kind: 'tokenize', data: tokenizeData.data.tokenize, reps: SIZES.reps }],
    };
    try {
      const res = await runPeer(system, job);
      Object.assign(versions, res.versions);
      for (const r of res.results) runs.push({ model: 'tokenizer', system, workload: 'tokenize', kind: 'tokenize', ...r });
    } catch (error) {
      errors.push({ model: 'tokenizer', system, error: errorText(error) });
    }
    progress(++done, total, `tokenizer: ${system}`);
  }

  const result = {
    meta: {
      date: started.toISOString(),
      command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
      smoke,
      threads,
      machine: machine(),
      versions,
      sizes: SIZES,
      seconds: (Date.now() - started.getTime()) / 1000,
    },
    seed: SEED,
    configs,
    gemm,
    runs,
    quality: qualityAgainstTorch(runs),
    errors,
  };
  // scores served the quality rows; the saved run keeps the figures, not 600 scores per system
  for (const r of runs) delete r.scores;
  const files = writeReport(result, { outDir, markdown: smoke ? join(outDir, 'RESULTS.md') : join(here, 'RESULTS.md') });
  process.stderr.write(`wrote ${files.join(', ')}\n`);
  if (errors.length > 0) {
    process.stderr.write(`${errors.length} peer run(s) failed:\n${errors.map((e) => `  ${e.model}/${e.system}: ${lastLine(e.error)}`).join('\n')}\n`);
  }
  console.log(JSON.stringify({ out: outDir, files, errors: errors.length }));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
