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
  const keys = ['batchSize', 'maxBatchTokens', 'activation', 'signal', 'topK', 'returnDocuments', 'chunking', 'bogus'];
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

// Values a hostile or careless caller can pass: Proxies (live and revoked), accessors, boxed
// strings, objects whose Symbol.toStringTag / toString / valueOf throw, fake AbortSignals, arrays
// that change while crossrank reads them. crossrank must answer with a coded error and never run
// the caller's code to describe a value.
describe('hostile values', () => {
  const SENTINEL = new Error('caller code ran');
  const ran: string[] = [];
  const boom = (what: string) => () => {
    ran.push(what);
    throw SENTINEL;
  };
  const revoked = <T extends object>(target: T): T => {
    const r = Proxy.revocable(target, {});
    r.revoke();
    return r.proxy;
  };
  /** Refused values that crossrank must describe without touching them. */
  const refused: Record<string, () => unknown> = {
    'a revoked Proxy of an array': () => revoked([]),
    'a revoked Proxy of an object': () => revoked({}),
    'a revoked Proxy of a function': () => revoked(() => {}),
    'an object whose Symbol.toStringTag getter throws': () => ({ get [Symbol.toStringTag]() { return boom('toStringTag')(); } }),
    'an object whose toString, valueOf and Symbol.toPrimitive throw': () => ({
      toString: boom('toString'),
      valueOf: boom('valueOf'),
      [Symbol.toPrimitive]: boom('toPrimitive'),
    }),
    'a function whose toString throws': () => Object.assign(() => {}, { toString: boom('fn.toString') }),
    'a Proxy whose every trap throws': () =>
      new Proxy({}, { get: boom('get'), getPrototypeOf: boom('getPrototypeOf'), ownKeys: boom('ownKeys'), has: boom('has'), getOwnPropertyDescriptor: boom('gopd') }),
    'an instance whose prototype has a throwing constructor getter': () => {
      const proto = {};
      Object.defineProperty(proto, 'constructor', { get: boom('constructor') });
      return Object.create(proto);
    },
    'a boxed string': () => new String('q'),
    'a null-prototype object': () => Object.create(null),
    'Object.create(AbortSignal.prototype)': () => Object.create(AbortSignal.prototype),
  };
  type Slot = [string, (v: unknown) => Promise<unknown>];
  const slots: Slot[] = [
    ['pairs', (v) => bert.predict(v as never)],
    ['pairs[0]', (v) => bert.predict([v] as never)],
    ['pairs[0][1]', (v) => bert.predict([['q', v]] as never)],
    ['tokenize pairs', (v) => bert.tokenize(v as never)],
    ['query', (v) => bert.rerank(v as never, ['d'])],
    ['documents', (v) => bert.rerank('q', v as never)],
    ['documents[1]', (v) => bert.rerank('q', ['d', v] as never)],
    ['predict options', (v) => bert.predict([['q', 'd']], v as never)],
    ['rerank options', (v) => bert.rerank('q', ['d'], v as never)],
    ['options.signal', (v) => bert.predict([['q', 'd']], { signal: v as never })],
    ['options.batchSize', (v) => bert.rerank('q', ['d'], { batchSize: v as never })],
    ['load dir', (v) => CrossEncoder.load(v as never)],
    ['load options', (v) => CrossEncoder.load(modelDir('bert-tiny'), v as never)],
  ];
  // In an options slot, crossrank reads the object's own keys: objects with none are fine options,
  // and a Proxy's ownKeys trap is the caller's code reading its input (its error propagates).
  const OPTION_SLOTS = new Set(['predict options', 'rerank options', 'load options']);
  const FINE_OPTIONS = new Set([
    'a null-prototype object',
    'an instance whose prototype has a throwing constructor getter',
    'an object whose Symbol.toStringTag getter throws',
    'Object.create(AbortSignal.prototype)',
  ]);
  const cases = Object.keys(refused).flatMap((value) => slots.map(([slot, call]) => [value, slot, call] as const));
  it.each(cases)('%s as %s is INVALID_ARGUMENT, and no code of the caller runs to describe it', async (value, slot, call) => {
    ran.length = 0;
    const outcome = await call(refused[value]!()).then(
      (r) => ({ ok: r }),
      (e: unknown) => ({ error: e }),
    );
    if (OPTION_SLOTS.has(slot) && value === 'a Proxy whose every trap throws') {
      expect(outcome).toEqual({ error: SENTINEL });
      expect(ran).toEqual(['ownKeys']);
      return;
    }
    expect(ran).toEqual([]);
    if (OPTION_SLOTS.has(slot) && FINE_OPTIONS.has(value)) {
      expect(outcome).toHaveProperty('ok');
      if ('ok' in outcome && outcome.ok instanceof CrossEncoder) await outcome.ok.close();
      return;
    }
    expect(outcome).toHaveProperty('error');
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(CrossrankError);
    expect((error as CrossrankError).code).toBe('INVALID_ARGUMENT');
  });

  it('messages describe hostile values without running them', async () => {
    await expect(bert.predict(revoked([]) as never)).rejects.toThrow('pairs must be an array, received a revoked Proxy');
    await expect(bert.rerank(new String('q') as never, ['d'])).rejects.toThrow('query must be a string, received a boxed primitive (String)');
    await expect(bert.predict([['q', 'd']], { signal: Object.create(AbortSignal.prototype) })).rejects.toThrow(
      'options.signal must be an AbortSignal, received an object (AbortSignal)',
    );
    await expect(bert.rerank('q', ['d', new Date(0)] as never)).rejects.toThrow('documents[1] must be a string, received an object (Date)');
  });

  it('signals from AbortSignal.timeout and AbortSignal.any are real signals', async () => {
    const timeout = AbortSignal.timeout(60_000);
    expect(await bert.predict([['q', 'd']], { signal: timeout })).toHaveLength(1);
    expect(await bert.predict([['q', 'd']], { signal: AbortSignal.any([timeout, new AbortController().signal]) })).toHaveLength(1);
    await expect(bert.predict([['q', 'd']], { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  // Inputs crossrank reads: honest Proxies, accessors, arrays that change as they are read.
  const text = fc.string({ maxLength: 20 });
  const hostileArray = <T>(items: T[]) =>
    fc.constantFrom<[string, (xs: T[]) => unknown]>(
      ['plain', (xs) => xs],
      ['live Proxy', (xs) => new Proxy(xs, {})],
      ['accessor elements', (xs) => Object.defineProperties([...xs], Object.fromEntries(xs.map((x, i) => [i, { get: () => x, enumerable: true }])))],
      [
        'mutates itself while read',
        (xs) => {
          const target = [...xs];
          return new Proxy(target, {
            get(t, key, receiver) {
              const value = Reflect.get(t, key, receiver) as unknown;
              if (key === '0') {
                t.push(xs[0]!); // grows, and rewrites what was read already
                t[0] = 'rewritten' as T;
              }
              return value;
            },
          });
        },
      ],
      ['revoked', () => revoked([])],
      ['boxed strings', (xs) => xs.map((x) => (typeof x === 'string' ? new String(x) : x))],
    ).map(([kind, make]) => ({ kind, value: make(items) }));

  it('rerank of hostile document arrays: a result over the documents as first read, or INVALID_ARGUMENT', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 8 }).chain((docs) => fc.tuple(fc.constant(docs), hostileArray(docs))), async ([docs, hostile]) => {
        const outcome = await bert.rerank('q', hostile.value as never, { topK: 100, returnDocuments: true }).then(
          (r) => ({ ok: r }),
          (e: unknown) => ({ error: e }),
        );
        if ('error' in outcome) {
          expect(outcome.error).toBeInstanceOf(CrossrankError);
          expect((outcome.error as CrossrankError).code).toBe('INVALID_ARGUMENT');
          expect(['revoked', 'boxed strings']).toContain(hostile.kind);
          return;
        }
        expect(['revoked', 'boxed strings']).not.toContain(hostile.kind);
        const hits = outcome.ok;
        expect(hits).toHaveLength(docs.length);
        expect(new Set(hits.map((h) => h.index)).size).toBe(docs.length);
        for (const h of hits) {
          expect(h.document).toBe(docs[h.index]);
          expect(Number.isFinite(h.score)).toBe(true);
        }
      }),
      { numRuns: 120 },
    );
  });

  it('pairs with hostile rows: scores equal to the plain pairs, or INVALID_ARGUMENT', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(text, text), { minLength: 1, maxLength: 6 }).chain((pairs) => fc.tuple(fc.constant(pairs), hostileArray(pairs))), async ([pairs, hostile]) => {
        const want = await bert.predict(pairs);
        const outcome = await bert.predict(hostile.value as never).then(
          (r) => ({ ok: r }),
          (e: unknown) => ({ error: e }),
        );
        if ('error' in outcome) {
          expect((outcome.error as CrossrankError).code).toBe('INVALID_ARGUMENT');
          expect(hostile.kind).toBe('revoked');
          return;
        }
        expect(Array.from(outcome.ok)).toEqual(Array.from(want));
      }),
      { numRuns: 80 },
    );
  });

  it("a caller's getter that throws while crossrank reads the input propagates as is; nothing else escapes uncoded", async () => {
    const throwingAt = (n: number, i: number) =>
      Object.defineProperty(Array.from({ length: n }, () => 'd'), i, { get: () => { throw SENTINEL; } });
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))), async ([n, i]) => {
        await expect(bert.rerank('q', throwingAt(n, i))).rejects.toBe(SENTINEL);
        const options = Object.defineProperty({}, 'batchSize', { get: () => { throw SENTINEL; }, enumerable: true });
        await expect(bert.predict([['q', 'd']], options)).rejects.toBe(SENTINEL);
      }),
      { numRuns: 20 },
    );
  });
});
