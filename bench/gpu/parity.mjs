// Numerical check of the GPU path against the CPU provider on the same model and pairs: the
// logits of CUDA fp32 and CUDA fp16 beside CPU fp32 (max |difference|, Spearman), with the spread
// of the CPU logits for scale. Random weights, so this checks arithmetic, not relevance.
//
//   node bench/gpu/parity.mjs MODEL_DIR PAIRS.json [N] [--device cuda]    -> JSON on stdout
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { CrossEncoder } from '../../dist/index.js';
import { maxAbsDiff, spearman } from '../lib/stats.mjs';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { device: { type: 'string', default: 'cuda' } } });
const [dir, dataPath, n = '512'] = positionals;
const device = values.device;
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
