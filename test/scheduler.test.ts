// The per-model scheduler: one queue for every concurrent call, batches across calls,
// back-pressure, cancellation of queued work.
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { FIXTURES, maxAbsDiff, modelDir, parityPairs } from './helpers.js';

const { pairs } = parityPairs();
let bert: CrossEncoder;
beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'));
});
afterAll(async () => {
  await bert.close();
});

function repeat(n: number): [string, string][] {
  return Array.from({ length: n }, (_, i) => pairs[i % pairs.length]!);
}

describe('scheduler', () => {
  it('many small concurrent calls (different sizes and activations) equal single sequential calls within 1e-6', async () => {
    const calls = Array.from({ length: 60 }, (_, i) => ({
      pairs: pairs.slice((i * 7) % 250, ((i * 7) % 250) + 1 + (i % 13)),
      activation: (i % 3 === 0 ? 'identity' : 'sigmoid') as 'identity' | 'sigmoid',
    }));
    const sequential: Float32Array[] = [];
    for (const c of calls) sequential.push(await bert.predict(c.pairs, { activation: c.activation }));
    const concurrent = await Promise.all(calls.map((c) => bert.predict(c.pairs, { activation: c.activation })));
    concurrent.forEach((scores, i) => expect(maxAbsDiff(scores, sequential[i]!)).toBeLessThanOrEqual(1e-6));
  });

  it('QUEUE_FULL when a call would overflow the bound; the queue accepts again once drained', async () => {
    const m = await CrossEncoder.load(modelDir('bert-tiny'), { maxQueuedPairs: 1000 });
    const big = m.predict(repeat(3000)); // taken although larger than the bound: nothing else waits
    await expect(m.predict(repeat(10))).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    await expect(big).resolves.toBeInstanceOf(Float32Array);
    await expect(m.predict(repeat(10))).resolves.toHaveLength(10);
    await m.close();
  });

  it('aborting a queued call rejects it at once and frees its work; other calls are unaffected', async () => {
    const long = bert.predict(repeat(6000));
    const controller = new AbortController();
    const victim = bert.predict(repeat(6000), { signal: controller.signal });
    const started = performance.now();
    controller.abort();
    await expect(victim).rejects.toMatchObject({ code: 'ABORTED' });
    const abortLatency = performance.now() - started;
    const scores = await long;
    expect(scores).toHaveLength(6000);
    const reference = await bert.predict(repeat(50));
    expect(maxAbsDiff(scores.subarray(0, 50), reference)).toBeLessThanOrEqual(1e-6);
    expect(abortLatency).toBeLessThan(5000);
  });

  it('a model dropped without close() does not keep the process alive (its channel is unref-ed when idle)', async () => {
    // Covered by vitest itself: every test file exits although models are loaded at top level;
    // here, check that an idle model has no call in flight and is still usable.
    const m = await CrossEncoder.load(modelDir('bert-tiny'));
    await m.predict(repeat(3));
    expect(m.closed).toBe(false);
  });

  it('stats() counts every scored pair, its real tokens and the padded positions the batches computed', async () => {
    const m = await CrossEncoder.load(modelDir('bert-tiny'));
    const first = repeat(700);
    const second = repeat(300).reverse();
    await m.predict(first, { batchSize: 64 });
    await m.predict(second);
    const tokenCount = async (p: [string, string][]) => (await m.tokenize(p)).ids.reduce((n, ids) => n + ids.length, 0);
    const s = m.stats();
    expect(s.pairs).toBe(1000);
    expect(s.tokens).toBe((await tokenCount(first)) + (await tokenCount(second)));
    expect(s.paddedTokens).toBeGreaterThanOrEqual(s.tokens);
    expect(s.batches).toBeGreaterThanOrEqual(Math.ceil(700 / 64) + 1);
    expect(s.windows).toBeGreaterThanOrEqual(2);
    await m.close();
    expect(() => m.stats()).toThrow(expect.objectContaining({ code: 'CLOSED' }));
  });

  it('windows wait to be full while inference is the bottleneck: sorted by length, batches carry little padding', async () => {
    // bert-tiny on the CPU scores about 4x slower than two threads tokenize.
    // The CPU's token budget makes batches of tens of rows, so a window of 2,048 pairs already
    // makes far more than 32 batches and does not grow with the backlog.
    const m = await CrossEncoder.load(modelDir('bert-tiny'));
    await m.predict(repeat(6200));
    const s = m.stats();
    expect(s.earlyWindows).toBe(0);
    expect(s.windows).toBe(4); // 6,200 pairs in windows of 2,048 (8 x the batch size of 256)
    expect(s.tokens / s.paddedTokens).toBeGreaterThan(0.95);
    await m.close();
  });

  it('with a backlog, windows of row-bound batches take more of what waits: fewer windows, less padding, same scores', async () => {
    // Batches bounded by rows, not by a token budget, as on a GPU (32 rows here to keep it short).
    // bert-tiny scores slower than two threads tokenize, so pairs pile up behind the first window.
    // Windows of 8 batches (256 pairs) need at least 12 windows for 3,000 pairs, and with these
    // lengths (every 31st passage doubled) carried about 50 % padding; 32 batches, about 19 %.
    const m = await CrossEncoder.load(modelDir('bert-tiny'));
    const words = (text: string, k: number) => text.split(' ').slice(0, k).join(' ');
    const mixed = repeat(3000).map(([q, p], i): [string, string] => [q, (i * 7919) % 31 === 0 ? `${p} ${p}` : words(p, 4 + ((i * 37) % 24))]);
    const options = { batchSize: 32, maxBatchTokens: 131072 };
    const scores = await m.predict(mixed, options);
    const s = m.stats();
    expect(s.pairs).toBe(3000);
    expect(s.windows).toBeLessThanOrEqual(8);
    expect(1 - s.tokens / s.paddedTokens).toBeLessThan(0.35);
    // Every score lands in its own slot: the same pairs one at a time agree.
    for (let i = 0; i < 3000; i += 97) {
      const [one] = await m.predict([mixed[i]!], options);
      expect(Math.abs(one! - scores[i]!)).toBeLessThan(1e-5);
    }
    await m.close();
  });

  it('windows are cut by a fixed rule, whichever side is the bottleneck; earlyWindows counts the waits on tokenization', async () => {
    // A model of next to no cost and one tokenizer thread: inference waits on tokenization. The
    // windows are still the next pairs in call order, of sizes set by the queue and the batch
    // options alone (so that identical calls make identical batches, test/determinism.test.ts):
    // the same windows and batches as with four tokenizer threads.
    const counts = async (tokenizerThreads: number) => {
      const m = await CrossEncoder.load(join(FIXTURES, 'models', 'cheap-sum'), { tokenizerThreads });
      const scores = await m.predict(repeat(4000), { batchSize: 32, activation: 'identity' });
      const s = m.stats();
      await m.close();
      return { scores, s };
    };
    const slow = await counts(1);
    const fast = await counts(4);
    expect(slow.s.earlyWindows).toBeGreaterThan(0);
    // 4,000 pairs: windows grow to 32 batches of 32 while at most half the queue, then shrink.
    expect(slow.s.windows).toBe(fast.s.windows);
    expect(slow.s.windows).toBeGreaterThanOrEqual(4);
    expect(slow.s.windows).toBeLessThanOrEqual(8);
    expect(slow.s.batches).toBe(fast.s.batches);
    expect(slow.s.paddedTokens).toBe(fast.s.paddedTokens);
    // Every score still lands in its own slot: 1e-6 x the sum of the pair's ids and type ids.
    const m = await CrossEncoder.load(join(FIXTURES, 'models', 'cheap-sum'));
    const { ids, typeIds } = await m.tokenize(repeat(4000));
    await m.close();
    const expected = ids.map((row, i) => 1e-6 * (row.reduce((a, b) => a + b, 0) + typeIds[i]!.reduce((a, b) => a + b, 0)));
    expect(maxAbsDiff(slow.scores, expected)).toBeLessThan(1e-4);
    expect(maxAbsDiff(fast.scores, expected)).toBeLessThan(1e-4);
  });
});
