// Scores the parity pairs of a converted folder with crossrank, once per ONNX variant, and compares
// each variant with crossrank's own fp32 scores (Spearman over all pairs, mean top-10 overlap per
// query). Used by bench/quality.py; prints JSON.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { CrossEncoder } from '../../dist/index.js';
import { spearman } from './stats.mjs';

const dir = process.argv[2];
// The same parity set as convert.py, produced by it.
const py = existsSync(join(process.cwd(), '.venv/bin/python')) ? join(process.cwd(), '.venv/bin/python') : 'python3';
const pairs = JSON.parse(
  execFileSync(py, ['-c', 'import json,sys; sys.path.insert(0, "lib/python"); import convert; print(json.dumps(convert.parity_set(' + process.argv[3] + ', ' + process.argv[4] + ')))'], {
    encoding: 'utf8',
  }),
);
const groups = pairs.map((p) => p[0]);

function top10(a, b) {
  const out = [];
  for (const g of new Set(groups)) {
    const idx = groups.map((x, i) => (x === g ? i : -1)).filter((i) => i >= 0);
    const best = (s) => new Set([...idx].sort((x, y) => s[y] - s[x] || x - y).slice(0, 10));
    const ta = best(a);
    const tb = best(b);
    out.push([...ta].filter((i) => tb.has(i)).length / ta.size);
  }
  return out.reduce((x, y) => x + y, 0) / out.length;
}

const files = { fp32: 'onnx/model.onnx', optimized: 'onnx/model_optimized.onnx', fp16: 'onnx/model_fp16.onnx', int8: 'onnx/model_quantized.onnx' };
const scores = {};
for (const [name, file] of Object.entries(files)) {
  if (!existsSync(join(dir, file))) continue;
  const ce = await CrossEncoder.load(dir, { modelFile: file, activation: 'identity' });
  scores[name] = Array.from(await ce.predict(pairs.map((p) => [p[1], p[2]])));
  await ce.close();
}
const result = {};
for (const name of Object.keys(scores)) {
  result[name] = { spearman: spearman(scores.fp32, scores[name]), top10_overlap: top10(scores.fp32, scores[name]) };
}
process.stdout.write(JSON.stringify(result));

