// Soak: RSS over many predict calls on one model, after a warm-up (issue #6: flat within 5 %).
//   npm run soak    = node --expose-gc --min-semi-space-size=16 --max-semi-space-size=16 bench/soak.cjs --calls 100000
// Options: --calls N (measured calls), --warmup N (default 20,000), --every N (sample interval, default 10,000),
// --leak-bytes N (retain N bytes outside the V8 heap per call: a deliberate leak, so a test can show the
// check catches one).
// A leak is memory that grows with calls, so the verdict is a trend, not two end points: the Theil-Sen
// slope (the median of the slopes between every two samples of the measured part) times the measured
// calls, over the memory at the start. A one-off jump (an arena growing once, a page the kernel has not
// taken back yet, a scavenge delayed by other work on the machine) moves one sample and hardly moves the
// median slope; a leak moves every sample after it, and the slope with them. `growth` (end points) and
// `rss_max_growth` are still printed.
// Every sample runs a full GC first, in the warm-up as in the measured part, so "before" and "after" are
// taken in the same state. The young-generation flags pin V8's new space at its 64-bit ceiling: by default
// V8 doubles it (3.8 -> 7 -> 13.5 -> 27 MiB) whenever the bytes surviving scavenges add up to its size,
// which any program with calls in flight does sooner or later; that growth is bounded, is V8's and not
// ours, and would otherwise read as a leak. `native` (RSS minus V8's physical heap) is reported beside
// RSS so a run without the flags can be judged too.
// Prints one JSON line: calls, rss/native/heap before and after, growth, and the sampled series.
const { join } = require('node:path');
const v8 = require('node:v8');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} needs a positive integer`);
  return value;
};
const calls = option('--calls', 100000);
const warmup = option('--warmup', 20000);
const every = option('--every', 10000);
const leakBytes = args.includes('--leak-bytes') ? option('--leak-bytes', 0) : 0;
const inFlight = 100;
const leaked = [];
if (typeof global.gc !== 'function') throw new Error('run under node --expose-gc');

const root = process.env.CROSSRANK_ROOT || join(__dirname, '..');
const { CrossEncoder } = require(join(root, 'dist', 'index.cjs'));

function sample(done) {
  global.gc();
  const { rss, heapUsed, external } = process.memoryUsage();
  const heapPhysical = v8.getHeapSpaceStatistics().reduce((sum, space) => sum + space.physical_space_size, 0);
  return { calls: done, rss, native: rss - heapPhysical, heapPhysical, heapUsed, external };
}

(async () => {
  const model = await CrossEncoder.load(join(root, 'test', 'fixtures', 'models', 'bert-tiny'));
  const pair = (i) => [`query number ${i % 1000}`, `a document that talks about item ${i % 777} at some length`];
  // `inFlight` concurrent single-pair calls at a time, as a service under load issues them.
  const run = async (from, n) => {
    for (let start = from; start < from + n; start += inFlight) {
      const pending = [];
      for (let i = start; i < Math.min(start + inFlight, from + n); i++) {
        pending.push(model.predict([pair(i)]));
        if (leakBytes > 0) leaked.push(Buffer.alloc(leakBytes, 1));
      }
      await Promise.all(pending);
    }
  };
  const series = [];
  for (let done = 0; done < warmup; ) {
    const n = Math.min(every, warmup - done);
    await run(done, n);
    done += n;
    series.push(sample(done - warmup));
  }
  const before = series[series.length - 1];
  for (let done = 0; done < calls; ) {
    const n = Math.min(every, calls - done);
    await run(warmup + done, n);
    done += n;
    series.push(sample(done));
  }
  const after = series[series.length - 1];
  await model.close();
  // Theil-Sen over the measured samples (the last warm-up sample is call 0): growth per run, relative.
  const measured = series.filter((s) => s.calls >= 0);
  const trend = (key) => {
    const slopes = [];
    for (let i = 0; i < measured.length; i++)
      for (let j = i + 1; j < measured.length; j++)
        slopes.push((measured[j][key] - measured[i][key]) / (measured[j].calls - measured[i].calls));
    slopes.sort((a, b) => a - b);
    const mid = slopes.length >> 1;
    const median = slopes.length % 2 ? slopes[mid] : (slopes[mid - 1] + slopes[mid]) / 2;
    return (median * calls) / before[key];
  };
  const mib = (bytes) => Math.round((bytes / 1048576) * 10) / 10;
  console.log(
    JSON.stringify({
      calls,
      warmup,
      rss_before: before.rss,
      rss_after: after.rss,
      growth: after.rss / before.rss - 1,
      rss_max_growth: Math.max(...series.filter((s) => s.calls > 0).map((s) => s.rss)) / before.rss - 1,
      rss_trend_growth: trend('rss'),
      native_trend_growth: trend('native'),
      leak_bytes_per_call: leakBytes,
      native_before: before.native,
      native_after: after.native,
      native_growth: after.native / before.native - 1,
      heap_used_before: before.heapUsed,
      heap_used_after: after.heapUsed,
      external_before: before.external,
      external_after: after.external,
      series_mib: series.map((s) => ({ calls: s.calls, rss: mib(s.rss), native: mib(s.native), v8: mib(s.heapPhysical) })),
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
