// The host side of the pipeline, one model: tokenize() rate, predict() rate, rerank 1 x 100
// latency, what the scheduler did (stats()), a backlog of 80 concurrent 100-pair calls (rate,
// mean and worst call latency), and the padding that windows of 8 to 64 batches would carry over
// these pairs' token lengths. With test/fixtures/models/cheap-sum (next to no
// inference cost) it measures the ceiling that tokenization and scheduling set; with a stand-in
// model (bench/lib/standin_model.py) the case of a small model on a GPU, where inference outpaces
// tokenization. Alternate the builds under test (CROSSRANK_ADDON) between runs.
//
//   node bench/pipeline.mjs MODEL_DIR [PAIRS=4000] [TOKENIZER_THREADS=0] [THREADS=0] [BATCH=256] [CONCURRENT_RUNS=default]
import { CrossEncoder } from '../dist/index.js';
import { makePairs, vocabularyWords } from './lib/pairs.mjs';
import { paddingPercent, statsSince } from './lib/protocol.mjs';
import { median } from './lib/report.mjs';

const [dir, pairsArg, tokArg, threadsArg, batchArg, runsArg] = process.argv.slice(2);
if (!dir) throw new Error('usage: node bench/pipeline.mjs MODEL_DIR [PAIRS] [TOKENIZER_THREADS] [THREADS] [BATCH] [CONCURRENT_RUNS]');
const n = Number(pairsArg || 4000);
const slices = 5;
const pairs = makePairs(vocabularyWords(`${dir}/tokenizer.json`), n * slices, 21);
const ce = await CrossEncoder.load(dir, {
  tokenizerThreads: Number(tokArg || 0),
  threads: Number(threadsArg || 0),
  ...(runsArg ? { concurrentRuns: Number(runsArg) } : {}),
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

// A backlog: many calls queued at once, as a busy service sees them.
const backlogCalls = 80;
const backlogPairs = makePairs(vocabularyWords(`${dir}/tokenizer.json`), backlogCalls * 100, 5);
const b0 = stats();
const t0 = performance.now();
const latencies = await Promise.all(
  Array.from({ length: backlogCalls }, (_, c) => ce.predict(backlogPairs.slice(c * 100, (c + 1) * 100), options).then(() => performance.now() - t0)),
);
const backlogMs = performance.now() - t0;
const b = b0 && statsSince(b0, stats());

// Padding of sorted windows cut into batches of `options.batchSize` rows, by window size, over the
// token lengths of all the slices' pairs (the scheduler's cut, without its timing).
const lengths = (await ce.tokenize(pairs)).ids.map((ids) => ids.length);
function paddingOfWindows(windowPairs) {
  let tokens = 0;
  let positions = 0;
  for (let w = 0; w < lengths.length; w += windowPairs) {
    const sorted = lengths.slice(w, w + windowPairs).sort((x, y) => y - x);
    for (let r = 0; r < sorted.length; r += options.batchSize) positions += sorted[r] * Math.min(options.batchSize, sorted.length - r);
    tokens += sorted.reduce((x, y) => x + y, 0);
  }
  return (100 * (1 - tokens / positions)).toFixed(1);
}
console.log(
  `${dir.split('/').pop()}: tokenize ${Math.round((n / tokenizeMs) * 1000)} pairs/s | predict ${Math.round((n / predictMs) * 1000)} pairs/s` +
    ` | rerank 1x100 ${rerankMs.toFixed(2)} ms` +
    (d ? ` | padding ${paddingPercent(d).toFixed(1)} % | windows started early ${d.earlyWindows} of ${d.windows}` : ''),
);
console.log(
  `  backlog of ${backlogCalls} x 100 pairs: ${Math.round(((backlogCalls * 100) / backlogMs) * 1000)} pairs/s` +
    ` | call latency mean ${Math.round(latencies.reduce((x, y) => x + y, 0) / backlogCalls)} ms, worst ${Math.round(Math.max(...latencies))} ms` +
    (b ? ` | padding ${paddingPercent(b).toFixed(1)} % in ${b.windows} windows` : ''),
);
console.log(
  `  padding of sorted windows at ${options.batchSize} rows a batch, over ${pairs.length} pairs:` +
    [8, 16, 32, 64].map((k) => ` ${k} batches ${paddingOfWindows(k * options.batchSize)} %`).join(','),
);
await ce.close();
