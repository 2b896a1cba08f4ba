// The host side of the pipeline, one model: tokenize() rate, predict() rate, rerank 1 x 100
// latency, and what the scheduler did (stats()). With test/fixtures/models/cheap-sum (next to no
// inference cost) it measures the ceiling that tokenization and scheduling set; with a stand-in
// model (bench/lib/standin_model.py) the case of a small model on a GPU, where inference outpaces
// tokenization. Alternate the builds under test (CROSSRANK_ADDON) between runs.
//
//   node bench/pipeline.mjs MODEL_DIR [PAIRS=4000] [TOKENIZER_THREADS=0] [THREADS=0] [BATCH=256]
import { CrossEncoder } from '../dist/index.js';
import { makePairs, vocabularyWords } from './lib/pairs.mjs';
import { paddingPercent, statsSince } from './lib/protocol.mjs';
import { median } from './lib/report.mjs';

const [dir, pairsArg, tokArg, threadsArg, batchArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: node bench/pipeline.mjs MODEL_DIR [PAIRS] [TOKENIZER_THREADS] [THREADS] [BATCH]');
const n = Number(pairsArg || 4000);
const slices = 5;
const pairs = makePairs(vocabularyWords(`${dir}/tokenizer.json`), n * slices, 21);
const ce = await CrossEncoder.load(dir, {
  tokenizerThreads: Number(tokArg || 0),
  threads: Number(threadsArg || 0),
});
// Rows per run as on a GPU: the batch size, not the CPU's token budget, bounds each run.
const options = { batchSize: Number(batchArg || 256), maxBatchTokens: Number(batchArg || 256) * 512 };
async function timeEach(count, fn) {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await fn(i);
    ms.push(performance.now() - t);
  }
  return median(ms);
}

await ce.predict(pairs.slice(0, 200), options);
const slice = (i) => pairs.slice(i * n, (i + 1) * n);
const tokenizeMs = await timeEach(slices, (i) => ce.tokenize(slice(i)));
// Builds before stats() (for side-by-side runs) report no scheduler counters.
const stats = () => {
  try {
    return ce.stats();
  } catch {
    return undefined;
  }
};
const before = stats();
const predictMs = await timeEach(slices, (i) => ce.predict(slice(i), options));
const after = stats();
const query = pairs[0][0];
const docs = pairs.slice(0, 100).map((p) => p[1]);
await timeEach(5, (i) => ce.rerank(query, docs.map((d) => `${d} ${i}`)));
const rerankMs = await timeEach(40, (i) => ce.rerank(query, docs.map((d) => `${d} ${i + 5}`)));
const d = after && statsSince(before, after);
console.log(
  `${dir.split('/').pop()}: tokenize ${Math.round((n / tokenizeMs) * 1000)} pairs/s | predict ${Math.round((n / predictMs) * 1000)} pairs/s` +
    ` | rerank 1x100 ${rerankMs.toFixed(2)} ms` +
    (d ? ` | padding ${paddingPercent(d).toFixed(1)} % | windows started early ${d.earlyWindows} of ${d.windows}` : ''),
);
await ce.close();
