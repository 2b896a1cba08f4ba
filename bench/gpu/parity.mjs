// Numerical check of the GPU path against the CPU provider on the same model and pairs: the
// logits of CUDA fp32 and CUDA fp16 beside CPU fp32 (max |difference|, Spearman), with the spread
// of the CPU logits for scale. Random weights, so this checks arithmetic, not relevance.
//
//   node bench/gpu/parity.mjs MODEL_DIR PAIRS.json [N] [--device cuda]    -> JSON on stdout
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { CrossEncoder } from '../../dist/index.js';

const [dir, dataPath, n = '512'] = process.argv.slice(2);
const device = process.argv.includes('--device') ? process.argv[process.argv.indexOf('--device') + 1] : 'cuda';
const pairs = JSON.parse(readFileSync(dataPath, 'utf8')).slice(0, Number(n));

async function logits(file, dev) {
  const ce = await CrossEncoder.load(dir, { modelFile: join(dir, 'onnx', file), device: dev });
  try {
    if (ce.info.device !== dev) throw new Error(`asked for ${dev}, got ${ce.info.device}: ${ce.info.deviceReason}`);
    return Array.from(await ce.predict(pairs, { activation: 'identity' }));
  } finally {
    await ce.close();
  }
}

function ranks(v) {
  const order = v.map((x, i) => [x, i]).sort((a, b) => a[0] - b[0]);
  const r = new Array(v.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) r[order[k][1]] = (i + j) / 2;
    i = j + 1;
  }
  return r;
}

function spearman(a, b) {
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (ra.length - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < ra.length; i++) {
    num += (ra[i] - mean) * (rb[i] - mean);
    da += (ra[i] - mean) ** 2;
    db += (rb[i] - mean) ** 2;
  }
  return num / Math.sqrt(da * db);
}

const maxAbsDiff = (a, b) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const cpu = await logits('model.onnx', 'cpu');
const fp32 = await logits('model.onnx', device);
const fp16 = await logits('model_fp16.onnx', device);
const mean = cpu.reduce((s, x) => s + x, 0) / cpu.length;
const std = Math.sqrt(cpu.reduce((s, x) => s + (x - mean) ** 2, 0) / cpu.length);
process.stdout.write(
  JSON.stringify({
    pairs: pairs.length,
    cpuLogitStd: std,
    fp32MaxAbsDiff: maxAbsDiff(fp32, cpu),
    fp32Spearman: spearman(fp32, cpu),
    fp16MaxAbsDiff: maxAbsDiff(fp16, cpu),
    fp16Spearman: spearman(fp16, cpu),
  }),
);
