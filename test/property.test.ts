// Property-based tests of the public API (fast-check): arbitrary text and arbitrary option objects
// give a result or a coded CrossrankError, never a crash, a hang or a foreign exception.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder, CrossrankError } from '../lib/index.js';
import { modelDir } from './helpers.js';

const CODES = new Set(['INVALID_ARGUMENT', 'TOKENIZER_ERROR', 'INFERENCE_FAILED', 'ABORTED', 'QUEUE_FULL']);
let bert: CrossEncoder;
let roberta: CrossEncoder;
beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'));
  roberta = await CrossEncoder.load(modelDir('roberta-tiny'));
});
afterAll(async () => {
  await bert.close();
  await roberta.close();
});

// Any UTF-16 code unit: lone surrogates, NUL, controls, CJK, emoji halves.
const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyText = fc.oneof(
  fc.string({ unit: codeUnit, maxLength: 200 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 50 }),
);

async function outcome(p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (error) {
    expect(error).toBeInstanceOf(CrossrankError);
    expect(CODES.has((error as CrossrankError).code), (error as CrossrankError).code).toBe(true);
    return error;
  }
}

describe('arbitrary text', () => {
  it('predict scores any pairs of strings: finite, one per pair, same as scoring them one by one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(anyText, anyText), { minLength: 1, maxLength: 12 }), async (pairs) => {
        for (const model of [bert, roberta]) {
          const scores = (await outcome(model.predict(pairs))) as Float32Array;
          expect(scores).toBeInstanceOf(Float32Array);
          expect(scores.length).toBe(pairs.length);
          for (const s of scores) expect(Number.isFinite(s)).toBe(true);
          const single = await model.predict([pairs[0]!]);
          expect(Math.abs(single[0]! - scores[0]!)).toBeLessThan(1e-5);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('rerank of any documents returns each index once, sorted', async () => {
    await fc.assert(
      fc.asyncProperty(anyText, fc.array(anyText, { maxLength: 20 }), fc.integer({ min: 0, max: 30 }), async (q, docs, topK) => {
        const hits = await bert.rerank(q, docs, { topK });
        expect(hits.length).toBe(Math.min(topK, docs.length));
        expect(new Set(hits.map((h) => h.index)).size).toBe(hits.length);
        for (let i = 1; i < hits.length; i++) {
          const [a, b] = [hits[i - 1]!, hits[i]!];
          expect(a.score > b.score || (a.score === b.score && a.index < b.index)).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('arbitrary options', () => {
  const keys = ['batchSize', 'maxBatchTokens', 'activation', 'signal', 'topK', 'returnDocuments', 'bogus'];
  it('rerank and predict options of any shape: a result or INVALID_ARGUMENT', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.anything(), fc.dictionary(fc.constantFrom(...keys), fc.anything())), async (options) => {
        await outcome(bert.rerank('q', ['a', 'b'], options as never));
        await outcome(bert.predict([['q', 'a']], options as never));
      }),
      { numRuns: 300 },
    );
  });

  it('load options of any shape: a model or a coded error', async () => {
    const loadKeys = ['device', 'threads', 'tokenizerThreads', 'maxLength', 'modelFile', 'activation', 'precision', 'maxQueuedPairs', 'x'];
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom(...loadKeys), fc.oneof(fc.anything(), fc.integer({ min: -2, max: 600 }))), async (options) => {
        try {
          const m = await CrossEncoder.load(modelDir('bert-tiny'), options as never);
          await m.close();
        } catch (error) {
          expect(error).toBeInstanceOf(CrossrankError);
          expect(['INVALID_ARGUMENT', 'MODEL_NOT_FOUND', 'CUDA_UNAVAILABLE']).toContain((error as CrossrankError).code);
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('sizes', () => {
  it('1 MB documents and 100,000 documents in one call', async () => {
    const huge = 'x'.repeat(1 << 20);
    const scores = await bert.predict([['q', huge], [huge, huge], [huge, '']]);
    expect(scores.every((s) => Number.isFinite(s))).toBe(true);
    const docs = Array.from({ length: 100_000 }, (_, i) => `document ${i} about topic ${i % 97}`);
    const hits = await bert.rerank('topic 42', docs, { topK: 5 });
    expect(hits).toHaveLength(5);
  }, 120_000);
});
