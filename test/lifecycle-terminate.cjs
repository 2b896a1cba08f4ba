// Terminates worker threads at random points of load(), predict() and close(): ROUNDS workers,
// CONCURRENCY at a time. Each worker loops load -> predict (left running) -> predict -> close()
// (not awaited), announcing each step; the parent terminates it at a random step after a random
// delay, or at a random time from its start. A completion that lands while a worker's environment
// is torn down must do nothing: the process must neither abort nor crash. At the end the main
// thread still loads and scores, and one JSON line says how many terminations hit each step.
//   node test/lifecycle-terminate.cjs [ROUNDS] [SEED] [DIST] [MODEL_DIR]
const { join } = require('node:path');
const { Worker } = require('node:worker_threads');

const rounds = Number(process.argv[2] ?? 200);
const seed = Number(process.argv[3] ?? Date.now() % 2 ** 31);
const dist = process.argv[4] ?? join(__dirname, '..', 'dist', 'index.cjs');
const dir = process.argv[5] ?? join(__dirname, 'fixtures', 'models', 'bert-tiny');
const concurrency = 4;

// mulberry32: a seeded generator, so that a failing run can be replayed with its seed.
let state = seed >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const source = `
const { parentPort, workerData } = require('node:worker_threads');
const { CrossEncoder } = require(workerData.dist);
const pairs = Array.from({ length: 300 }, (_, i) => ['query ' + i, 'document text number ' + i]);
(async () => {
  for (;;) {
    const loading = CrossEncoder.load(workerData.dir, { threads: 1, tokenizerThreads: 1 });
    parentPort.postMessage('load');
    const m = await loading;
    parentPort.postMessage('loaded');
    m.predict(pairs).catch(() => {});
    parentPort.postMessage('predict');
    await m.predict([['q', 'd']]).catch(() => {});
    m.close();
    parentPort.postMessage('close');
    await new Promise((r) => setImmediate(r));
  }
})().catch(() => {});`;

const STEPS = ['load', 'loaded', 'predict', 'close', 'time'];

function round() {
  const step = STEPS[Math.floor(random() * STEPS.length)];
  const delay = Math.floor(random() * (step === 'time' ? 400 : 15));
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: { dist, dir } });
    let done = false;
    const stop = () => {
      if (done) return;
      done = true;
      clearTimeout(fallback);
      setTimeout(() => worker.terminate().then(() => resolve(step), reject), delay);
    };
    // Never wait forever for a step: a worker that did not get there is terminated anyway.
    const fallback = setTimeout(stop, 5000);
    if (step === 'time') stop();
    else worker.on('message', (m) => m === step && stop());
    worker.once('error', reject);
  });
}

(async () => {
  const hits = Object.fromEntries(STEPS.map((s) => [s, 0]));
  let started = 0;
  const lanes = Array.from({ length: concurrency }, async () => {
    while (started < rounds) {
      started++;
      hits[await round()]++;
    }
  });
  await Promise.all(lanes);
  const { CrossEncoder } = require(dist);
  const m = await CrossEncoder.load(dir);
  const scores = await m.predict([['q', 'd']]);
  await m.close();
  console.log(JSON.stringify({ seed, rounds, hits, score: scores[0] }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
