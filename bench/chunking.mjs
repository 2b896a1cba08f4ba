// The cost of scoring long documents by their best window (rerank's `chunking`, MaxP) against
// truncating them: one query x DOCS documents of about WORDS words, on an architecture-exact model
// (bench/models.py). Each mode: one warm-up call, then the median of REPS timed calls. Also times
// ce.windows() alone (the extra tokenization that finds token offsets) and counts the pairs scored
// (ce.stats()). Writes bench/results/chunking.json and prints a Markdown table (the body of
// bench/results/chunking.md).
//
//   python bench/models.py --out bench/.cache/models --only tinybert-l2,minilm-l6 --no-gemm
//   npx tsup && node bench/chunking.mjs [--model tinybert-l2] [--docs 100] [--words 2000] [--reps 5] [--threads 0]
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { CrossEncoder } from '../dist/index.js';
import { rng, vocabularyWords } from './lib/pairs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    model: { type: 'string', default: 'tinybert-l2' },
    docs: { type: 'string', default: '100' },
    words: { type: 'string', default: '2000' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '0' },
    out: { type: 'string', default: join(here, 'results', 'chunking.json') },
  },
});
const dir = join(here, '.cache', 'models', opt.model);
if (!existsSync(dir)) throw new Error(`${dir} is missing: python bench/models.py --out bench/.cache/models --only ${opt.model}`);
const docs = Number(opt.docs);
const wordsPerDoc = Number(opt.words);
const reps = Number(opt.reps);

// Deterministic text from the model's own WordPiece vocabulary: sentences of 8 to 20 words.
const vocabulary = vocabularyWords(join(dir, 'tokenizer.json'));
const next = rng(2019);
const pick = () => vocabulary[Math.floor(next() * vocabulary.length)];
const query = Array.from({ length: 6 }, pick).join(' ');
const documents = Array.from({ length: docs }, () => {
  const out = [];
  while (out.length < wordsPerDoc) {
    const n = 8 + Math.floor(next() * 13);
    const sentence = Array.from({ length: n }, pick);
    sentence[0] = sentence[0][0].toUpperCase() + sentence[0].slice(1);
    out.push(...sentence.slice(0, -1), `${sentence.at(-1)}.`);
  }
  return out.slice(0, wordsPerDoc).join(' ');
});

const ce = await CrossEncoder.load(dir, { threads: Number(opt.threads) });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Pairs one call scores (ce.stats() before and after). */
async function pairsOf(fn) {
  const before = ce.stats().pairs;
  await fn();
  return ce.stats().pairs - before;
}

// The machine is shared: modes are timed round-robin (rep 1 of every mode, then rep 2, ...), so
// that load from other jobs falls on all of them alike; each mode's median is reported.
const windowPlan = await ce.windows(query, documents, { maxChunks: 1000 });
const windowsPerDoc = windowPlan.reduce((n, w) => n + w.length, 0) / docs;
const modes = [
  { name: 'truncation (no chunking)', options: {} },
  { name: 'chunking maxChunks 1', options: { chunking: { maxChunks: 1 } } },
  { name: 'chunking maxChunks 3', options: { chunking: { maxChunks: 3 } } },
  { name: 'chunking default (maxChunks 10, overlap 0)', options: { chunking: {} } },
  { name: 'chunking maxChunks 10, overlap 64', options: { chunking: { maxChunks: 10, overlap: 64 } } },
  { name: 'ce.windows() alone (token offsets, nothing scored)', windowsOnly: true },
];
const call = (mode) => (mode.windowsOnly ? ce.windows(query, documents) : ce.rerank(query, documents, { topK: 10, ...mode.options }));
const rows = [];
for (const mode of modes) rows.push({ mode: mode.name, pairs: await pairsOf(() => call(mode)), times: [] }); // warm-up
for (let r = 0; r < reps; r++) {
  for (const [i, mode] of modes.entries()) {
    const t = performance.now();
    await call(mode);
    rows[i].times.push(performance.now() - t);
  }
}
for (const row of rows) {
  row.ms = median(row.times);
  row.all = row.times.map((x) => Math.round(x));
  delete row.times;
  process.stderr.write(`${row.mode}: ${row.ms.toFixed(0)} ms, ${row.pairs} pairs\n`);
}
const info = ce.info;
await ce.close();

const base = rows[0].ms;
const cpu = cpus()[0]?.model ?? 'unknown';
let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: here }).toString().trim();
} catch {
  // not a git checkout
}
const result = {
  date: new Date().toISOString(),
  command: `node bench/chunking.mjs --model ${opt.model} --docs ${docs} --words ${wordsPerDoc} --reps ${reps} --threads ${opt.threads}`,
  machine: { cpus: cpus().length, cpu, note: 'shared machine, measured under load from other jobs: compare ratios, not absolute times' },
  commit,
  model: opt.model,
  maxLength: info.maxLength,
  docs,
  wordsPerDoc,
  windowsPerDoc,
  rows: rows.map((r) => ({ ...r, ratio: r.ms / base })),
};
mkdirSync(dirname(opt.out), { recursive: true });
writeFileSync(opt.out, `${JSON.stringify(result, null, 2)}\n`);

const lines = [
  `${opt.model} (max ${result.maxLength} tokens), 1 query x ${docs} documents of ${wordsPerDoc} words (${windowsPerDoc.toFixed(1)} windows each when nothing limits them), topK 10; median of ${reps} calls per mode, modes timed round-robin after a warm-up.`,
  '',
  '| mode | pairs scored | ms (median) | x truncation |',
  '| --- | ---: | ---: | ---: |',
  ...result.rows.map((r) => `| ${r.mode} | ${r.pairs} | ${r.ms.toFixed(0)} | ${r.ratio.toFixed(2)} |`),
];
console.log(lines.join('\n'));
