// Interleaved crossrank (the addon) speed of several ONNX files of one model folder (issue 25):
//   nice -n 10 node bench/int8_fusion_speed.mjs MODEL_DIR model.onnx,model_quantized.onnx [PAIRS] [ROUNDS] [MAX_BATCH_TOKENS]
// median pairs/s (docs/s for rerank lists) per file, ratio to the first, max |score difference| to the first, batch dependence.
// PAIRS: a count of synthetic pairs from the folder's vocabulary (default 512), or a .json file of
// [[query, passage], ...] (the int8 study's speed pairs: docs/int8.md, "Keeping the most sensitive groups"),
// or of [{query, docs: [...]}, ...]: rerank lists, timed as ce.rerank(query, docs) one list after
// another with crossrank's own batching (the bench's rerank workload; the int8 study's 30 lists of 100).
// MAX_BATCH_TOKENS: predict/rerank's maxBatchTokens (default: the library's, 2048 on the CPU).
import { CrossEncoder } from '../dist/index.js';
import { makePairs, vocabularyWords } from './lib/pairs.mjs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
const [dir, files, rounds] = [process.argv[2], process.argv[3].split(','), Number(process.argv[5] || 7)];
const pairsArg = process.argv[4] || '512';
const opts = process.argv[6] ? { maxBatchTokens: Number(process.argv[6]) } : {};
const data = pairsArg.endsWith('.json') ? JSON.parse(readFileSync(pairsArg, 'utf8')) : makePairs(vocabularyWords(`${dir}/tokenizer.json`), Number(pairsArg), 21);
const lists = Array.isArray(data[0]) ? null : data;
const pairs = lists ? lists.flatMap((l) => l.docs.map((d) => [l.query, d])) : data;
const n = pairs.length;
const run = lists ? async (ce) => { for (const l of lists) await ce.rerank(l.query, l.docs, opts); } : (ce) => ce.predict(pairs, opts);
const ces = [];
for (const f of files) { const ce = await CrossEncoder.load(dir, { modelFile: `onnx/${f}`, threads: 2 }); await ce.predict(pairs.slice(0, 100)); ces.push(ce); }
const t = files.map(() => []);
const ref = await ces[0].predict(pairs.slice(0, 64));
for (let r = 0; r < rounds; r++) for (let i = 0; i < ces.length; i++) { const t0 = performance.now(); await run(ces[i]); t[i].push(n / ((performance.now() - t0) / 1000)); }
const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
console.log(lists ? `rerank: ${lists.length} lists, ${n} pairs` : `predict: ${n} pairs`, `maxBatchTokens ${opts.maxBatchTokens ?? 'default'}`, 'load', os.loadavg().map((x) => x.toFixed(1)).join(' '));
for (let i = 0; i < files.length; i++) {
  const s = await ces[i].predict(pairs.slice(0, 64));
  const alone = []; for (let k = 0; k < 8; k++) alone.push((await ces[i].predict([pairs[k * 8]]))[0]);
  const inb = await ces[i].predict(pairs.slice(0, 64));
  let bd = 0; for (let k = 0; k < 8; k++) bd = Math.max(bd, Math.abs(alone[k] - inb[k * 8]));
  let d = 0; for (let k = 0; k < 64; k++) d = Math.max(d, Math.abs(s[k] - ref[k]));
  console.log(files[i].padEnd(24), med(t[i]).toFixed(1).padStart(8), 'pairs/s', `x${(med(t[i]) / med(t[0])).toFixed(3)}`, 'max|d| vs first', d.toExponential(1), 'batchdep', bd.toExponential(1));
}
for (const ce of ces) await ce.close();
