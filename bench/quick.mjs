// Quick side-by-side for one change at a time: pairs/s of one model, one predict() call of N
// pairs at the CPU defaults, median of 5, and the scheduler's windows, batches and padding per call. Alternate the two builds under test between runs (CROSSRANK_ADDON for the
// addon, LD_LIBRARY_PATH for the ONNX Runtime core) and compare the means of a few runs.
//
//   node bench/quick.mjs MODEL_DIR [N]
import { CrossEncoder } from '../dist/index.js';
import { makePairs, vocabularyWords } from './lib/pairs.mjs';
import { paddingPercent, statsSince } from './lib/protocol.mjs';

const [dir, n] = [process.argv[2], Number(process.argv[3] || 2000)];
const pairs = makePairs(vocabularyWords(`${dir}/tokenizer.json`), n, 21);
const ce = await CrossEncoder.load(dir);
await ce.predict(pairs.slice(0, 200));
const before = ce.stats();
const times = [];
for (let r = 0; r < 5; r++) {
  const t = performance.now();
  await ce.predict(pairs);
  times.push((performance.now() - t) / 1000);
}
times.sort((a, b) => a - b);
const s = statsSince(before, ce.stats());
console.log(dir.split('/').pop(), (n / times[2]).toFixed(1), 'pairs/s |', `per call: ${s.windows / 5} windows, ${s.batches / 5} batches, padding ${paddingPercent(s).toFixed(1)} %`);
await ce.close();
