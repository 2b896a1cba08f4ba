// Drives every native entry point, the error paths and the concurrent ones, for the sanitizer and
// valgrind runs (native/check/*.sh). Exits 0 when every call settled as expected.
const { join } = require('node:path');
const { Worker } = require('node:worker_threads');

const root = join(__dirname, '..', '..');
const { CrossEncoder } = require(join(root, 'dist', 'index.cjs'));
const dir = join(root, 'test', 'fixtures', 'models', 'bert-tiny');
const { pairs } = require(join(root, 'test', 'fixtures', 'pairs.json'));

async function main() {
  const m = await CrossEncoder.load(dir);
  await m.predict(pairs);
  await m.tokenize(pairs.slice(0, 50));
  await m.rerank('query \ud800', ['a', 'b', 'a', '\u0000', 'x'.repeat(100000)], { topK: 2, returnDocuments: true });
  // Chunking: token offsets (crt_token_offsets) of long, multi-byte and broken text, then every window scored.
  await m.rerank('query', ['word '.repeat(3000), 'Café 東京 😀 \ud800 déjà'.repeat(200), '', '\u0000'], { chunking: { maxChunks: 8, overlap: 8 } });
  await Promise.all(Array.from({ length: 200 }, (_, i) => m.predict([pairs[i % pairs.length]], { activation: i % 2 ? 'identity' : 'sigmoid' })));
  const ac = new AbortController();
  const aborted = m.predict(Array.from({ length: 5000 }, (_, i) => pairs[i % pairs.length]), { signal: ac.signal }).catch((e) => e.code);
  ac.abort();
  if ((await aborted) !== 'ABORTED') throw new Error('abort');
  for (const bad of [() => m.predict('x'), () => m.rerank(1, []), () => m.predict([['a', 1]])]) {
    await bad().then(() => { throw new Error('expected a rejection'); }, () => {});
  }
  const busy = Promise.allSettled(Array.from({ length: 300 }, (_, i) => m.predict([pairs[i % pairs.length], pairs[(i + 1) % pairs.length]])));
  await m.close();
  await busy;
  await m.predict([['a', 'b']]).catch(() => {});
  await new Promise((resolve, reject) => {
    const w = new Worker(
      `const { CrossEncoder } = require(${JSON.stringify(join(root, 'dist', 'index.cjs'))});
       CrossEncoder.load(${JSON.stringify(dir)}).then(async (m) => { await m.predict([['q', 'd']]); m.predict(Array.from({ length: 3000 }, (_, i) => ['q' + i, 'd'])).catch(() => {}); require('node:worker_threads').parentPort.postMessage('ok'); });`,
      { eval: true },
    );
    w.once('message', () => w.terminate().then(resolve, reject));
    w.once('error', reject);
  });
  // Workers terminated while they load, and right after a close() they did not await: the
  // completions land in a dying environment and must do nothing.
  for (const body of ['CrossEncoder.load(dir).catch(() => {}); post();', 'CrossEncoder.load(dir).then((m) => { m.close(); post(); });']) {
    for (const delay of [0, 10]) {
      await new Promise((resolve, reject) => {
        const w = new Worker(
          `const { CrossEncoder } = require(${JSON.stringify(join(root, 'dist', 'index.cjs'))}); const dir = ${JSON.stringify(dir)};
           const post = () => require('node:worker_threads').parentPort.postMessage('go'); ${body}`,
          { eval: true },
        );
        w.once('message', () => setTimeout(() => w.terminate().then(resolve, reject), delay));
        w.once('error', reject);
      });
    }
  }
  // Three inference threads on one session, closed under load.
  const parallel = await CrossEncoder.load(dir, { concurrentRuns: 3, threads: 1 });
  const racing = Promise.allSettled(Array.from({ length: 300 }, (_, i) => parallel.predict([pairs[i % pairs.length]], { batchSize: 1 })));
  await parallel.predict(pairs, { batchSize: 4 });
  await parallel.close();
  await racing;
  const dropped = await CrossEncoder.load(dir);
  await dropped.predict([['q', 'd']]);
  console.log('exercise: ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
