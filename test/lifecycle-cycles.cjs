// Load, predict and close a model N times in a row and print, after each close() has resolved,
// the process's thread count (/proc/self/task) and RSS. No GC is forced: close() alone must give
// the model's threads and memory back.
//   node test/lifecycle-cycles.cjs [CYCLES] [DIST] [MODEL_DIR]
// Prints one JSON line: { threads: number[], rssMiB: number[] } (one entry per cycle).
//
// pthread_join returns when the kernel clears the thread's tid, a moment before the task leaves
// /proc/self/task: on a loaded machine a joined thread can still be listed for a few ms. So a count
// above the lowest one seen is read again for up to 500 ms; a thread that was not joined stays.
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const cycles = Number(process.argv[2] ?? 100);
const dist = process.argv[3] ?? join(__dirname, '..', 'dist', 'index.cjs');
const dir = process.argv[4] ?? join(__dirname, 'fixtures', 'models', 'bert-tiny');
const { CrossEncoder } = require(dist);

const count = () => readdirSync('/proc/self/task').length;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let floor = Infinity;
async function settledCount() {
  let n = count();
  for (const start = Date.now(); n > floor && Date.now() - start < 500; n = count()) await sleep(5);
  floor = Math.min(floor, n);
  return n;
}

(async () => {
  const threads = [];
  const rssMiB = [];
  for (let i = 0; i < cycles; i++) {
    const m = await CrossEncoder.load(dir);
    await m.predict([['q', 'd'], ['another query', 'another document']]);
    await m.close();
    threads.push(await settledCount());
    rssMiB.push(Math.round((process.memoryUsage().rss / 2 ** 20) * 10) / 10);
  }
  console.log(JSON.stringify({ threads, rssMiB }));
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
