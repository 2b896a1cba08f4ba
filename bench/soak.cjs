// Soak: RSS over many predict calls on one model, after a warm-up. Run under --expose-gc:
//   node --expose-gc bench/soak.cjs --calls 100000          (npm run soak)
// Prints {"calls", "rss_before", "rss_after", "growth"}; growth = after / before - 1.
const { join } = require('node:path');

const args = process.argv.slice(2);
const calls = Number(args[args.indexOf('--calls') + 1] || 100000);
const root = process.env.CROSSRANK_ROOT || join(__dirname, '..');
const { CrossEncoder } = require(join(root, 'dist', 'index.cjs'));

(async () => {
  const model = await CrossEncoder.load(join(root, 'test', 'fixtures', 'models', 'bert-tiny'));
  const pair = (i) => [`query number ${i % 1000}`, `a document that talks about item ${i % 777} at some length`];
  const batch = async (from, n) => {
    const inflight = [];
    for (let i = from; i < from + n; i++) inflight.push(model.predict([pair(i)]));
    await Promise.all(inflight);
  };
  const sample = () => {
    global.gc();
    return process.memoryUsage();
  };
  const warm = Math.min(10000, Math.floor(calls / 2));
  for (let i = 0; i < warm; i += 100) await batch(i, 100);
  const before = sample();
  for (let i = 0; i < calls; i += 100) await batch(i, 100);
  const after = sample();
  await model.close();
  console.log(
    JSON.stringify({
      calls,
      rss_before: before.rss,
      rss_after: after.rss,
      growth: after.rss / before.rss - 1,
      heap_used_before: before.heapUsed,
      heap_used_after: after.heapUsed,
      external_before: before.external,
      external_after: after.external,
    }),
  );
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
