// rerank's chunking (MaxP): a long document is scored by its best token window. Models are loaded
// with a small maxLength so that short fixture texts need several windows.
import type { AddressInfo } from 'node:net';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/cross-encoder.js';
import { createServer, parseServeArgs } from '../lib/serve/index.js';
import { modelDir } from './helpers.js';

const QUERY = 'rivers and stone';
const WORDS = ['river', 'stone', 'paper', 'green', 'house', 'music', 'north', 'cloud', 'train', 'apple', 'light', 'water'];
/** n words from a small LCG, different per seed. */
const words = (n: number, seed: number): string => {
  let x = (seed * 2654435761 + 12345) >>> 0;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return WORDS[(x >>> 16) % WORDS.length];
  }).join(' ');
};
/** Multi-byte text: accents (stripped by BERT's normalizer), CJK (one token per character), emoji (4 bytes, 2 UTF-16 units), a lone surrogate. */
const MULTIBYTE = `Café naïve résumé 😀 東京タワー the river 🪨 stone Ünïcödé ${words(30, 7)} 日本語のテキスト 🌊🌊 façade \ud800 déjà vu ${words(20, 8)} crème brûlée 👩‍👩‍👧 end`;

let bert: CrossEncoder; // maxLength 32: windows of a few words
let bertFull: CrossEncoder; // the same model with its own limit (512), for reference tokenizations
let roberta: CrossEncoder; // byte-level BPE: an emoji is several tokens

beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'), { maxLength: 32 });
  bertFull = await CrossEncoder.load(modelDir('bert-tiny'));
  roberta = await CrossEncoder.load(modelDir('roberta-tiny'), { maxLength: 32 });
});

afterAll(async () => {
  await Promise.all([bert?.close(), bertFull?.close(), roberta?.close()]);
});

/** Each window's text scored alone as a pair with the query. */
async function windowScores(ce: CrossEncoder, doc: string, maxChunks: number, overlap = 0): Promise<{ text: string; score: number }[]> {
  const [windows] = await ce.windows(QUERY, [doc], { maxChunks, overlap });
  const texts = windows!.map((w) => doc.slice(w.start, w.end));
  const scores = await ce.predict(texts.map((t): [string, string] => [QUERY, t]));
  return texts.map((text, i) => ({ text, score: scores[i]! }));
}

describe('rerank with chunking: the document scores as its best window', () => {
  const docs = [words(120, 1), MULTIBYTE, words(6, 3), `${words(60, 4)} rivers and stone ${words(60, 5)}`];

  for (const [name, ce] of [['bert (WordPiece)', () => bert], ['roberta (byte-level BPE)', () => roberta]] as const) {
    it(`${name}: score = max over scoring each window's text as its own pair; chunk names that window`, async () => {
      const hits = await ce().rerank(QUERY, docs, { chunking: { maxChunks: 50, overlap: 4 } });
      expect(hits).toHaveLength(docs.length);
      for (const hit of hits) {
        const windows = await windowScores(ce(), docs[hit.index]!, 50, 4);
        const best = Math.max(...windows.map((w) => w.score));
        expect(hit.score).toBe(best);
        expect(hit.chunk!.index).toBe(windows.findIndex((w) => w.score === best));
        const [all] = await ce().windows(QUERY, [docs[hit.index]!], { maxChunks: 50, overlap: 4 });
        expect(hit.chunk).toEqual(all![hit.chunk!.index]);
      }
      // Long documents really were cut; a short one is one window, its whole text, scored as without chunking.
      const [long, , short] = await ce().windows(QUERY, docs, { maxChunks: 50 });
      expect(long!.length).toBeGreaterThan(4);
      expect(short).toEqual([{ index: 0, start: 0, end: docs[2]!.length }]);
      const plain = await ce().rerank(QUERY, [docs[2]!]);
      expect(hits.find((h) => h.index === 2)!.score).toBe(plain[0]!.score);
    });
  }

  it('offsets are UTF-16 indices on multi-byte text: windows start and end on code points and words, cover the text, and hold their tokens', async () => {
    for (const ce of [bert, roberta]) {
      const [windows] = await ce.windows(QUERY, [MULTIBYTE], { maxChunks: 1000 });
      expect(windows!.length).toBeGreaterThan(3);
      const isLow = (i: number): boolean => /[\udc00-\udfff]/.test(MULTIBYTE.charAt(i)) && /[\ud800-\udbff]/.test(MULTIBYTE.charAt(i - 1));
      for (const w of windows!) {
        const text = MULTIBYTE.slice(w.start, w.end);
        expect(isLow(w.start), `window ${w.index} starts inside a surrogate pair`).toBe(false);
        expect(isLow(w.end), `window ${w.index} ends inside a surrogate pair`).toBe(false);
        // Token spans hold no space (byte-level BPE's leading Ġ is trimmed by its post-processor, as the crate's encode does).
        expect(text).toBe(text.trim());
      }
      // Overlap 0: together the windows cover the text, in order, gaps being whitespace only.
      expect(windows![0]!.start).toBe(0);
      expect(windows!.at(-1)!.end).toBe(MULTIBYTE.length);
      for (let i = 1; i < windows!.length; i++) {
        expect(windows![i]!.start).toBeGreaterThanOrEqual(windows![i - 1]!.start);
        expect(MULTIBYTE.slice(windows![i - 1]!.end, windows![i]!.start).trim()).toBe('');
      }
    }
    // WordPiece: each window re-tokenizes to exactly its share of the document's tokens, so it fits the pair.
    const [windows] = await bert.windows(QUERY, [MULTIBYTE], { maxChunks: 1000 });
    const inner = async (texts: string[]): Promise<number[][]> => (await bertFull.tokenize(texts.map((t): [string, string] => [t, '']))).ids.map((row) => [...row.slice(1, -2)]);
    const [docIds] = await inner([MULTIBYTE]);
    const windowIds = await inner(windows!.map((w) => MULTIBYTE.slice(w.start, w.end)));
    expect(windowIds.flat()).toEqual(docIds);
    const { ids } = await bert.tokenize([['', QUERY]]);
    const room = 32 - ids[0]!.length;
    for (const row of windowIds) expect(row.length).toBeLessThanOrEqual(room);
    expect(Math.max(...windowIds.map((r) => r.length))).toBe(room);
  });

  it('any text (lone surrogates, combining marks, control characters): windows are valid string ranges, in order', async () => {
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 400 }), fc.string({ unit: 'grapheme', maxLength: 200 }), fc.string({ maxLength: 400 }));
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 4 }), async (docs) => {
        for (const ce of [bert, roberta]) {
          const plans = await ce.windows(QUERY, docs, { maxChunks: 1000, overlap: 3 });
          plans.forEach((windows, d) => {
            expect(windows.length).toBeGreaterThan(0);
            let previous = -1;
            for (const w of windows) {
              expect(0 <= w.start && w.start <= w.end && w.end <= docs[d]!.length).toBe(true);
              expect(w.start).toBeGreaterThan(previous);
              previous = w.start;
            }
          });
          const hits = await ce.rerank(QUERY, docs, { chunking: { maxChunks: 4 } });
          expect(hits).toHaveLength(docs.length);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('maxChunks is respected: at most that many windows, the score the best of those', async () => {
    const doc = words(200, 11);
    for (const maxChunks of [1, 2, 3, 7]) {
      const [hit] = await bert.rerank(QUERY, [doc], { chunking: { maxChunks } });
      const windows = await windowScores(bert, doc, maxChunks);
      expect(windows).toHaveLength(maxChunks);
      expect(hit!.chunk!.index).toBeLessThan(maxChunks);
      expect(hit!.score).toBe(Math.max(...windows.map((w) => w.score)));
    }
    const [one] = await bert.rerank(QUERY, [doc], { chunking: { maxChunks: 1 } });
    const [truncated] = await bert.rerank(QUERY, [doc]);
    expect(one!.score).toBe(truncated!.score); // one window: what truncation reads
    // Defaults: 10 windows.
    const [defaults] = await bert.windows(QUERY, [words(400, 13)]);
    expect(defaults).toHaveLength(10);
  });

  it('overlap: windows share that many tokens, at most half a window', async () => {
    const doc = words(200, 12);
    const [none] = await bert.windows(QUERY, [doc], { maxChunks: 100 });
    const [some] = await bert.windows(QUERY, [doc], { maxChunks: 100, overlap: 5 });
    const [huge] = await bert.windows(QUERY, [doc], { maxChunks: 100, overlap: 1000 });
    expect(some!.length).toBeGreaterThan(none!.length);
    expect(huge!.length).toBeGreaterThan(some!.length);
    for (let i = 1; i < some!.length; i++) expect(some![i]!.start).toBeLessThan(some![i - 1]!.end);
  });

  it('without the option nothing changes; topK, returnDocuments and duplicates work with it', async () => {
    const plain = await bert.rerank(QUERY, docs);
    expect(plain.every((h) => h.chunk === undefined)).toBe(true);
    const chunked = await bert.rerank(QUERY, [...docs, docs[0]!], { chunking: {}, topK: 3, returnDocuments: true });
    expect(chunked).toHaveLength(3);
    for (const h of chunked) expect(h.document).toBe([...docs, docs[0]!][h.index]);
    const again = await bert.rerank(QUERY, [...docs, docs[0]!], { chunking: {} });
    const first = again.find((h) => h.index === 0)!;
    const dup = again.find((h) => h.index === docs.length)!;
    expect([dup.score, dup.chunk]).toEqual([first.score, first.chunk]);
  });

  it('deterministic under concurrent calls: windows of many calls batched together score as each call alone', async () => {
    const sets = Array.from({ length: 8 }, (_, i) => [words(90 + i * 7, 20 + i), MULTIBYTE, words(10, 40 + i), words(150, 60 + i)]);
    const alone = [];
    for (const set of sets) alone.push(await bert.rerank(QUERY, set, { chunking: { maxChunks: 6, overlap: 3 } }));
    const together = await Promise.all(sets.map((set) => bert.rerank(QUERY, set, { chunking: { maxChunks: 6, overlap: 3 } })));
    expect(together).toEqual(alone);
  });

  it('bad chunking options are INVALID_ARGUMENT; abort and a closed model give ABORTED and CLOSED', async () => {
    for (const chunking of [{ maxChunks: 0 }, { overlap: -1 }, { maxChunks: 1.5 }, { size: 3 }, 'yes', null]) {
      await expect(bert.rerank(QUERY, docs, { chunking: chunking as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    await expect(bert.rerank(QUERY, docs, { chunking: {}, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ABORTED' });
    const closed = await CrossEncoder.load(modelDir('bert-tiny'));
    await closed.close();
    await expect(closed.rerank(QUERY, docs, { chunking: {} })).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(closed.windows(QUERY, docs)).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('crossrank serve: Cohere v1 max_chunks_per_doc, and --max-chunks-per-doc for the other routes', () => {
  const docs = [words(150, 91), `${words(70, 92)} rivers and stone ${words(70, 93)}`, words(5, 94)];
  const post = async (url: string, path: string, body: unknown): Promise<any> => {
    const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(res.status).toBe(200);
    return res.json();
  };
  const scoresOf = (results: { index: number; relevance_score: number }[]): number[] => [...results].sort((a, b) => a.index - b.index).map((r) => r.relevance_score);
  const inOrder = (hits: { index: number; score: number }[]): number[] => [...hits].sort((a, b) => a.index - b.index).map((h) => h.score);

  it('max_chunks_per_doc chunks a Cohere v1 request; the server default chunks TEI, Cohere v2 and Jina; 0 truncates', async () => {
    const plain = inOrder(await bert.rerank(QUERY, docs));
    const five = inOrder(await bert.rerank(QUERY, docs, { chunking: { maxChunks: 5 } }));
    const three = inOrder(await bert.rerank(QUERY, docs, { chunking: { maxChunks: 3 } }));
    const threeLogits = inOrder(await bert.rerank(QUERY, docs, { chunking: { maxChunks: 3 }, activation: 'identity' }));
    expect(five).not.toEqual(plain);
    for (const [maxChunksPerDoc, fallback] of [[0, plain], [3, three]] as const) {
      const server = await createServer({ models: [{ name: 'bert', model: bert }], maxChunksPerDoc, fastify: { logger: false } });
      await server.app.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
      try {
        const v1 = await post(url, '/v1/rerank', { model: 'rerank-v3.5', query: QUERY, documents: docs, max_chunks_per_doc: 5 });
        expect(scoresOf(v1.results)).toEqual(five);
        const v1Default = await post(url, '/v1/rerank', { model: 'rerank-v3.5', query: QUERY, documents: docs, max_chunks_per_doc: null });
        expect(scoresOf(v1Default.results)).toEqual(fallback);
        expect(scoresOf((await post(url, '/v2/rerank', { query: QUERY, documents: docs })).results)).toEqual(fallback);
        expect(scoresOf((await post(url, '/v1/rerank', { query: QUERY, documents: docs })).results)).toEqual(fallback); // Jina
        const tei = (await post(url, '/rerank', { query: QUERY, texts: docs, raw_scores: true })) as { index: number; score: number }[];
        if (maxChunksPerDoc === 3) expect(inOrder(tei)).toEqual(threeLogits);
      } finally {
        await server.drain(1000);
      }
    }
    const config = parseServeArgs(['--model', 'x', '--max-chunks-per-doc', '4']);
    expect(config !== 'help' && config.maxChunksPerDoc).toBe(4);
    const env = parseServeArgs(['--model', 'x'], { CROSSRANK_MAX_CHUNKS_PER_DOC: '2' });
    expect(env !== 'help' && env.maxChunksPerDoc).toBe(2);
    expect(() => parseServeArgs(['--model', 'x', '--max-chunks-per-doc', '-1'])).toThrow(/max-chunks-per-doc/);
  });
});
