// When does int8 pay? crossrank int8 (onnx/model_quantized.onnx) against crossrank fp32
// (onnx/model.onnx) on the seed model shapes, rerank 1 query x 100 MS MARCO-like passages, both
// models loaded side by side and timed interleaved (fp32, int8, fp32, int8, ...) so that the
// machine's other load falls on both alike. Reports each model's int8 / fp32 docs/s ratio: the
// median of the per-repetition ratios, with their min and max. This is the measurement behind
// precision 'auto''s shape rule (lib/hub/precision.ts, docs/int8.md "When int8 pays").
//
//   node bench/models.py --only tinybert-l2,minilm-l2,... (makes the models, with their int8 files)
//   nice -n 10 node bench/int8_pays.mjs --models-dir bench/.cache/models \
//     --models tinybert-l2,minilm-l2,minilm-l4,minilm-l6,minilm-l12,electra-base --reps 9 \
//     --out bench/results/int8-pays               (writes int8-pays.json and int8-pays.md)
//   node bench/int8_pays.mjs --report-only bench/results/int8-pays.json   (rewrites the .md; several
//     .json files, or one holding { runs: [...] }: one table over all their runs, each row naming its run)
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CrossEncoder, cpuFeatures } from '../dist/index.js';
import { makeRerankSets, vocabularyWords } from './lib/pairs.mjs';

const { values } = parseArgs({
  options: {
    'models-dir': { type: 'string', default: join(import.meta.dirname, '.cache', 'models') },
    models: { type: 'string', default: 'tinybert-l2,minilm-l2,minilm-l4,minilm-l6,minilm-l12,electra-base' },
    reps: { type: 'string', default: '9' },
    threads: { type: 'string', default: '2' },
    docs: { type: 'string', default: '100' },
    out: { type: 'string' },
    'report-only': { type: 'string', multiple: true },
  },
});

/** The Markdown page of one or more saved runs. */
function report(results) {
  const lines = [
    '# When int8 pays: crossrank int8 against crossrank fp32',
    '',
    'Written by `bench/int8_pays.mjs`. Rerank 1 query x N MS MARCO-like passages (N per run below), the fp32 and int8',
    'files of each seed model shape (random weights, `bench/models.py`) loaded side by side and timed',
    'interleaved (fp32 then int8, then int8 then fp32, ...), so the machine\'s other load falls on both.',
    'The ratio is int8 docs/s over fp32 docs/s: the median of the per-repetition ratios (min, max).',
    'Absolute docs/s are left out on purpose (shared machine); the JSON has them.',
    '',
  ];
  for (const r of results) {
    lines.push(`Run ${r.date.slice(0, 16)} (${r.machine.cpu}, ${r.machine.nproc} CPUs, flags ${r.machine.kernelFlags.join(' ')}; ${r.threads} threads; 1 query x ${r.docs} passages; ${r.reps} repetitions; load average at the end ${r.machine.loadavg.map((x) => x.toFixed(1)).join(' ')}):`, '');
    lines.push('```sh', `nice -n 10 node ${r.command.replace(/^\S*bench\/int8_pays\.mjs/, 'bench/int8_pays.mjs')}`, '```', '');
  }
  lines.push('| model | layers | hidden | FFN | int8 / fp32 (median) | min | max | run |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const r of results) {
    for (const row of r.rows) {
      lines.push(`| ${row.model} | ${row.layers} | ${row.hidden} | ${row.ffn} | **${row.ratioMedian.toFixed(2)}x** | ${row.ratioMin.toFixed(2)}x | ${row.ratioMax.toFixed(2)}x | ${r.date.slice(0, 16)} |`);
    }
  }
  lines.push('', `int8 file: ${results[0].rows[0]?.int8Method ?? 'n/a'} (all MatMul groups int8: convert's mixed-precision files keep up to a quarter fp32 and gain less).`, '');
  lines.push('What the figures mean, the quiet-machine figures beside them and the rule precision \'auto\' takes from them: [docs/int8.md](../../docs/int8.md#when-int8-pays).', '');
  return lines.join('\n');
}

if (values['report-only']) {
  // A file holds one run, or several as { runs: [...] } (bench/results/int8-pays.json).
  const results = values['report-only'].flatMap((path) => {
    const saved = JSON.parse(readFileSync(path, 'utf8'));
    return saved.runs ?? [saved];
  });
  const out = values.out ?? values['report-only'][0].replace(/\.json$/, '');
  writeFileSync(`${out}.md`, report(results));
  console.log(`wrote ${out}.md`);
  process.exit(0);
}
const reps = Number(values.reps);
const threads = Number(values.threads);
const docs = Number(values.docs);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const rows = [];
for (const name of values.models.split(',').filter(Boolean)) {
  const dir = join(values['models-dir'], name);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const int8Method = JSON.parse(readFileSync(join(dir, 'onnx', 'model_quantized.json'), 'utf8')).method;
  // 1 query x `docs` passages per rerank; a different list each repetition (same for both files).
  const sets = makeRerankSets(vocabularyWords(join(dir, 'tokenizer.json')), reps + 1, docs, 7);
  const fp32 = await CrossEncoder.load(dir, { modelFile: 'onnx/model.onnx', threads });
  const int8 = await CrossEncoder.load(dir, { modelFile: 'onnx/model_quantized.onnx', threads });
  const time = async (model, set) => {
    const t = performance.now();
    await model.rerank(set.query, set.documents);
    return (performance.now() - t) / 1000;
  };
  // Warm-up on the extra list.
  await time(fp32, sets[reps]);
  await time(int8, sets[reps]);
  const f = [];
  const q = [];
  const ratios = [];
  for (let r = 0; r < reps; r++) {
    // Alternate which goes first, so neither always follows the other.
    const [a, b] = r % 2 ? [int8, fp32] : [fp32, int8];
    const ta = await time(a, sets[r]);
    const tb = await time(b, sets[r]);
    const [tf, tq] = r % 2 ? [tb, ta] : [ta, tb];
    f.push(docs / tf);
    q.push(docs / tq);
    ratios.push(tf / tq);
  }
  await fp32.close();
  await int8.close();
  const row = {
    model: name,
    layers: config.num_hidden_layers,
    hidden: config.hidden_size,
    ffn: config.intermediate_size,
    int8Method,
    fp32DocsPerSec: median(f),
    int8DocsPerSec: median(q),
    ratioMedian: median(ratios),
    ratioMin: Math.min(...ratios),
    ratioMax: Math.max(...ratios),
    ratios,
  };
  rows.push(row);
  console.log(
    `${name.padEnd(13)} L${row.layers} H${row.hidden}  int8/fp32 ${row.ratioMedian.toFixed(2)}x (min ${row.ratioMin.toFixed(2)}, max ${row.ratioMax.toFixed(2)})`,
  );
}

const cpu = cpuFeatures();
const flags = (readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '').trim().split(/\s+/);
const machine = {
  cpu: cpus()[0]?.model,
  nproc: cpus().length,
  kernelFlags: ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'avx512_bf16', 'amx_int8'].filter((x) => flags.includes(x)),
  cpuFeatures: cpu,
  loadavg: (await import('node:os')).loadavg(),
};
const result = { date: new Date().toISOString(), command: ['bench/int8_pays.mjs', ...process.argv.slice(2)].join(' '), threads, docs, reps, machine, rows };
if (values.out) {
  writeFileSync(`${values.out}.json`, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(`${values.out}.md`, report([result]));
  console.log(`wrote ${values.out}.json and ${values.out}.md`);
}
