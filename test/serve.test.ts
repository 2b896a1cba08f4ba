// crossrank serve: every endpoint against the documented shapes (test/fixtures/serve), every
// error status, 200 concurrent mixed requests scored as if alone, cancellation on disconnect,
// SIGTERM without losing accepted requests, auth, and the official cohere-ai client.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { CohereClient, CohereClientV2 } from 'cohere-ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/cross-encoder.js';
import { type CrossrankServer, type ServeOptions, createServer, parseServeArgs, v1Flavour } from '../lib/serve/index.js';
import { FIXTURES, modelDir, scratchCopy } from './helpers.js';

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(FIXTURES, 'serve', `${name}.json`), 'utf8'));
const ROOT = join(FIXTURES, '..', '..');

/** The type skeleton of a JSON value: objects by their keys (sorted), arrays by their first item. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length ? [shape(value[0])] : [];
  if (value === null) return 'null';
  if (typeof value === 'object') {
    return Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, shape((value as Record<string, unknown>)[k])]));
  }
  return typeof value;
}

/** Keys in order, for the APIs whose documented examples fix an order. */
const keysOf = (value: object): string[] => Object.keys(value);

interface Running {
  server: CrossrankServer;
  url: string;
}

async function start(options: Partial<ServeOptions> & { models: ServeOptions['models'] }): Promise<Running> {
  const server = await createServer({ ...options, fastify: { logger: false } });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}` };
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const VOCAB = ['alpha', 'beta', 'gamma', 'delta', 'river', 'stone', 'query', 'light', 'paper', 'green', 'house', 'music', 'north', 'cloud', 'train', 'apple'];
/** n words, different for every seed (a small LCG), so that no two test documents repeat. */
const words = (n: number, seed: number): string => {
  let x = (seed * 2654435761 + 12345) >>> 0;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return VOCAB[(x >>> 16) % VOCAB.length];
  }).join(' ');
};

let bert: CrossEncoder;
let multi: CrossEncoder;
let main: Running;

beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'));
  multi = await CrossEncoder.load(modelDir('xlmr-tiny-3'));
  main = await start({
    models: [
      { name: 'bert-tiny', model: bert, aliases: ['rerank-v4.0-pro'] },
      { name: 'xlmr-3', model: multi },
    ],
    maxClientBatchSize: 64,
  });
});

afterAll(async () => {
  await main?.server.drain(1000);
  await bert?.close();
  await multi?.close();
});

describe('shapes, as the original APIs document them', () => {
  it('TEI POST /rerank: [{index, text?, score}] best first, sigmoid of the logit unless raw_scores', async () => {
    const f = fixture('tei-rerank');
    const res = await post(main.url, '/rerank', f.request);
    expect(res.status).toBe(200);
    expect(shape(res.body)).toEqual(shape(f.response));
    expect(keysOf(res.body[0])).toEqual(keysOf(f.response[0]));
    const logits = await bert.predict(f.request.texts.map((t: string) => [f.request.query, t]), { activation: 'identity' });
    const expected = Array.from(logits, (l, index) => ({ index, score: sigmoid(l) })).sort((a, b) => b.score - a.score);
    expect(res.body.map((r: any) => r.index)).toEqual(expected.map((e) => e.index));
    for (const [i, r] of res.body.entries()) expect(r.score).toBeCloseTo(expected[i]!.score, 6);

    const plain = await post(main.url, '/rerank', { query: f.request.query, texts: f.request.texts });
    expect(shape(plain.body)).toEqual(shape(f.response_without_text));
    const raw = await post(main.url, '/rerank', { query: f.request.query, texts: f.request.texts, raw_scores: true });
    expect(raw.body.find((r: any) => r.index === 0).score).toBeCloseTo(logits[0]!, 6);
    // TEI's timing headers
    for (const h of ['x-compute-type', 'x-compute-time', 'x-total-time', 'x-compute-characters', 'x-queue-time', 'x-inference-time']) {
      expect(res.headers.get(h), h).toMatch(/^\w+$/);
    }
    expect(res.headers.get('x-compute-characters')).toBe(String(([...f.request.query].length * 2) + f.request.texts.join('').length));
  });

  it('TEI POST /predict: a pair gives [{score, label}], a batch [[...]]; softmax over several labels', async () => {
    const f = fixture('tei-predict');
    const single = await post(main.url, '/predict', f.request_single);
    expect(single.status).toBe(200);
    expect(shape(single.body)).toEqual(shape(f.response_single));
    const batch = await post(main.url, '/predict', f.request_batch);
    expect(shape(batch.body)).toEqual(shape(f.response_batch));
    const three = await post(main.url, '/predict', { ...f.request_single, model: 'xlmr-3' });
    expect(three.body).toHaveLength(3);
    const sum = three.body.reduce((n: number, p: any) => n + p.score, 0);
    expect(sum).toBeCloseTo(1, 5);
    expect(three.body[0].score).toBeGreaterThanOrEqual(three.body[2].score);
    const logits = await multi.predict([f.request_single.inputs], { activation: 'identity' });
    const e = Array.from(logits, Math.exp);
    const z = e.reduce((a, b) => a + b, 0);
    expect(Math.max(...three.body.map((p: any) => p.score))).toBeCloseTo(Math.max(...e) / z, 5);
  });

  it('TEI GET /info and GET /health', async () => {
    const f = fixture('tei-info');
    const res = await fetch(`${main.url}/info`);
    const info = await res.json();
    const { crossrank: _own, ...tei } = info;
    expect(Object.keys(tei).sort()).toEqual(Object.keys(f.response).sort());
    const nullable = new Set(['model_sha', 'max_batch_requests', 'sha', 'docker_label']);
    for (const key of Object.keys(tei)) {
      if (tei[key] === null && nullable.has(key)) continue;
      if (key === 'model_type') continue; // maps keyed by label: checked below
      expect(shape(tei[key]), key).toEqual(shape(f.response[key]));
    }
    expect(info.max_client_batch_size).toBe(64);
    expect(info.version).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
    expect(info.max_input_length).toBe(bert.info.maxLength);
    expect(info.model_type).toEqual({ reranker: { id2label: { 0: 'LABEL_0' }, label2id: { LABEL_0: 0 } } });
    const other = await (await fetch(`${main.url}/info?model=xlmr-3`)).json();
    expect(other.model_type).toHaveProperty('classifier');
    const health = await fetch(`${main.url}/health`);
    expect(health.status).toBe(200);
  });

  it('Cohere POST /v2/rerank: {id, results [{index, relevance_score}], meta}, top_n', async () => {
    const f = fixture('cohere-v2-rerank');
    const res = await post(main.url, '/v2/rerank', f.request);
    expect(res.status).toBe(200);
    expect(shape(res.body)).toEqual(shape(f.response));
    expect(res.body.results).toHaveLength(3);
    const lib = await bert.rerank(f.request.query, f.request.documents, { topK: 3 });
    expect(res.body.results.map((r: any) => r.index)).toEqual(lib.map((h) => h.index));
    for (const [i, r] of res.body.results.entries()) expect(r.relevance_score).toBeCloseTo(lib[i]!.score, 6);
  });

  it('Cohere POST /v1/rerank: documents as {text} or strings, return_documents, meta version 1', async () => {
    const f = fixture('cohere-v1-rerank');
    const res = await post(main.url, '/v1/rerank', f.request);
    expect(res.status).toBe(200);
    expect(shape(res.body)).toEqual(shape(f.response));
    const withDocs = await post(main.url, '/v1/rerank', f.request_return_documents);
    expect(shape(withDocs.body)).toEqual(shape(f.response_return_documents));
    const first = withDocs.body.results.find((r: any) => r.index === 0);
    expect(first.document).toEqual({ text: f.request_return_documents.documents[0] });
  });

  it('Jina POST /v1/rerank: {model, usage.total_tokens, results [{index, document.text, relevance_score}]}', async () => {
    const f = fixture('jina-rerank');
    const res = await post(main.url, '/v1/rerank', f.request);
    expect(res.status).toBe(200);
    expect(shape(res.body)).toEqual(shape(f.response));
    expect(res.body.results).toHaveLength(2);
    const { ids } = await bert.tokenize(f.request.documents.map((d: string) => [f.request.query, d]));
    expect(res.body.usage.total_tokens).toBe(ids.reduce((n, row) => n + row.length, 0));
    const none = await post(main.url, '/v1/rerank', f.request_no_documents);
    expect(shape(none.body)).toEqual(shape(f.response_no_documents));
  });

  it('ties: TEI lists the higher index first (its sort then reverse), Cohere and Jina the lower', async () => {
    const tei = await post(main.url, '/rerank', { query: 'q', texts: ['same text', 'same text', 'other'] });
    const same = tei.body.filter((r: any) => r.index !== 2).map((r: any) => r.index);
    expect(same).toEqual([1, 0]);
    const cohere = await post(main.url, '/v2/rerank', { query: 'q', documents: ['same text', 'same text', 'other'] });
    expect(cohere.body.results.filter((r: any) => r.index !== 2).map((r: any) => r.index)).toEqual([0, 1]);
  });

  it('--count-tokens adds x-compute-tokens and x-tokenization-time to TEI answers', async () => {
    const s = await start({ models: [{ name: 'm', model: bert }], countTokens: true });
    try {
      const res = await post(s.url, '/rerank', { query: 'a query', texts: ['one document', 'another one'] });
      const { ids } = await bert.tokenize([['a query', 'one document'], ['a query', 'another one']]);
      expect(res.headers.get('x-compute-tokens')).toBe(String(ids[0]!.length + ids[1]!.length));
      expect(res.headers.get('x-tokenization-time')).toMatch(/^\d+$/);
      expect((await post(main.url, '/rerank', { query: 'q', texts: ['a'] })).headers.get('x-compute-tokens')).toBeNull();
    } finally {
      await s.server.drain(1000);
    }
  });

  it('Cohere and Jina are told apart by their fields, SDK header and model names', () => {
    const base = { query: 'q', documents: ['a'] };
    expect(v1Flavour({ ...base }, {})).toBe('jina');
    expect(v1Flavour({ ...base, model: 'jina-reranker-v2-base-multilingual' }, {})).toBe('jina');
    expect(v1Flavour({ ...base, rank_fields: ['text'] }, {})).toBe('cohere');
    expect(v1Flavour({ ...base, max_chunks_per_doc: 3 }, {})).toBe('cohere');
    expect(v1Flavour({ ...base, model: 'rerank-english-v3.0' }, {})).toBe('cohere');
    expect(v1Flavour({ ...base }, { 'x-fern-sdk-name': 'cohere-ai' })).toBe('cohere');
  });

  it('several models: `model` picks one by name or alias; unknown names use the default, or 404 with strictModel', async () => {
    const a = await post(main.url, '/v2/rerank', { model: 'xlmr-3', query: 'q', documents: ['a'] });
    expect(a.status).toBe(424); // three labels: not a reranker, as TEI answers
    const b = await post(main.url, '/v2/rerank', { model: 'no-such-model', query: 'q', documents: ['a'] });
    expect(b.status).toBe(200);
    expect(b.headers.get('x-crossrank-model')).toBe('bert-tiny');
    const strict = await start({ models: [{ name: 'bert-tiny', model: bert }], strictModel: true });
    try {
      const c = await post(strict.url, '/v2/rerank', { model: 'no-such-model', query: 'q', documents: ['a'] });
      expect(c.status).toBe(404);
      const d = await post(strict.url, '/v2/rerank', { model: 'bert-tiny', query: 'q', documents: ['a'] });
      expect(d.status).toBe(200);
    } finally {
      await strict.server.drain(1000);
    }
  });
});

describe('limits and errors, with TEI statuses and {error, error_type}', () => {
  it('400 empty, 413 batch size, 413 payload, 422 bad JSON / schema / unsupported options', async () => {
    const documented = fixture('tei-error');
    const expectError = (res: { status: number; body: any }, status: number, type: string): void => {
      expect(res.status).toBe(status);
      expect(res.body).toMatchObject({ error: expect.any(String), error_type: type });
      const { message: _cohereJina, ...tei } = res.body; // Cohere/Jina routes add `message`
      expect(shape(tei)).toEqual(shape(documented.response));
      expect(documented.error_types).toContain(res.body.error_type);
    };
    expectError(await post(main.url, '/rerank', { query: 'q', texts: [] }), 400, 'Empty');
    expectError(await post(main.url, '/v2/rerank', { query: 'q', documents: [] }), 400, 'Empty');
    expectError(await post(main.url, '/v1/rerank', { query: 'q', documents: [] }), 400, 'Empty');
    expectError(await post(main.url, '/predict', { inputs: [] }), 400, 'Empty');
    const tooMany = Array.from({ length: 65 }, (_, i) => `doc ${i}`);
    expectError(await post(main.url, '/rerank', { query: 'q', texts: tooMany }), 413, 'Validation');
    expectError(await post(main.url, '/v2/rerank', { query: 'q', documents: tooMany }), 413, 'Validation');
    expectError(await post(main.url, '/rerank', { query: 'q', texts: ['x'.repeat(2_100_000)] }), 413, 'Validation');
    expectError(await post(main.url, '/rerank', '{"query": "q", "texts": ['), 422, 'Validation');
    expectError(await post(main.url, '/rerank', { query: 'q', texts: 'not a list' }), 422, 'Validation');
    expectError(await post(main.url, '/rerank', { query: 1, texts: ['a'] }), 422, 'Validation');
    expectError(await post(main.url, '/v2/rerank', { query: 'q', documents: ['a'], top_n: 0 }), 422, 'Validation');
    expectError(await post(main.url, '/rerank', { query: 'q', texts: ['a'], truncation_direction: 'Left' }), 422, 'Validation');
    expectError(await post(main.url, '/predict', { inputs: 'one text' }), 422, 'Validation');
    expectError(await post(main.url, '/v2/rerank', { query: 'q', documents: ['a'], max_tokens_per_doc: 16 }), 422, 'Validation');
    expectError(await post(main.url, '/v1/rerank', { query: 'q', documents: [{ image: 'x.png' }] }), 422, 'Validation');
    expectError(await post(main.url, '/rerank', '{"query":"q","texts":["a"],"__proto__":{"x":1}}'), 422, 'Validation');
    // the server is unharmed
    expect((await post(main.url, '/rerank', { query: 'q', texts: ['a'] })).status).toBe(200);
  });

  it('--auto-split scores an oversized request in chunks, with the same scores as one call', async () => {
    const split = await start({ models: [{ name: 'bert-tiny', model: bert }], maxClientBatchSize: 7, autoSplit: true });
    try {
      const texts = Array.from({ length: 30 }, (_, i) => words(3 + (i % 9), i));
      const res = await post(split.url, '/rerank', { query: 'river stone', texts, raw_scores: true });
      expect(res.status).toBe(200);
      expect(res.body).toHaveLength(30);
      const logits = await bert.predict(texts.map((t) => ['river stone', t] as [string, string]), { activation: 'identity' });
      for (const r of res.body) expect(r.score).toBeCloseTo(logits[r.index]!, 5);
    } finally {
      await split.server.drain(1000);
    }
  });

  it('429 with Retry-After when the model queue is full (QUEUE_FULL) or too many requests are in flight', async () => {
    const small = await CrossEncoder.load(modelDir('bert-tiny'), { maxQueuedPairs: 300 });
    const s = await start({ models: [{ name: 'small', model: small }], maxClientBatchSize: 1000 });
    try {
      const texts = Array.from({ length: 250 }, (_, i) => words(60, i));
      const all = await Promise.all(Array.from({ length: 8 }, () => post(s.url, '/rerank', { query: 'q', texts })));
      const statuses = all.map((r) => r.status);
      expect(statuses).toContain(429);
      expect(statuses.every((x) => x === 200 || x === 429)).toBe(true);
      const refused = all.find((r) => r.status === 429)!;
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body.error_type).toBe('Overloaded');
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).toMatch(/te_request_failure\{err="overloaded"\} [1-9]/);
    } finally {
      await s.server.drain(1000);
      await small.close();
    }
    const one = await start({ models: [{ name: 'bert-tiny', model: bert }], maxConcurrentRequests: 1, maxClientBatchSize: 2000 });
    try {
      const texts = Array.from({ length: 1500 }, (_, i) => words(40, i));
      const all = await Promise.all(Array.from({ length: 4 }, () => post(one.url, '/rerank', { query: 'q', texts })));
      expect(all.map((r) => r.status)).toContain(429);
      expect(all.map((r) => r.status)).toContain(200);
    } finally {
      await one.server.drain(1000);
    }
  });

  it('424 when the model fails (INFERENCE_FAILED), 500 for an unexpected error, and the server keeps serving', async () => {
    const dir = scratchCopy('roberta-tiny');
    writeFileSync(join(dir, 'tokenizer.json'), readFileSync(join(modelDir('bert-tiny'), 'tokenizer.json')));
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    delete config.vocab_size;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const broken = await CrossEncoder.load(dir);
    const faulty = {
      get info() {
        return bert.info;
      },
      closed: false,
      rerank: async () => {
        throw new Error('boom');
      },
    } as unknown as CrossEncoder;
    const s = await start({ models: [{ name: 'broken', model: broken }, { name: 'faulty', model: faulty }, { name: 'ok', model: bert }] });
    try {
      const a = await post(s.url, '/rerank', { model: 'broken', query: 'zebra quantum', texts: ['xylophone'] });
      expect(a.status).toBe(424);
      expect(a.body.error_type).toBe('Backend');
      const b = await post(s.url, '/v2/rerank', { model: 'faulty', query: 'q', documents: ['a'] });
      expect(b.status).toBe(500);
      expect(b.body).toMatchObject({ error_type: 'Backend', message: expect.any(String) });
      expect((await post(s.url, '/rerank', { model: 'ok', query: 'q', texts: ['a'] })).status).toBe(200);
    } finally {
      await s.server.drain(1000);
      await broken.close();
    }
  });

  it('503 when --request-timeout passes, and the queued work is cancelled', async () => {
    const slowModel = await CrossEncoder.load(modelDir('bert-tiny'), { threads: 1 });
    const s = await start({ models: [{ name: 'm', model: slowModel }], requestTimeoutMs: 30, maxClientBatchSize: 20000, payloadLimit: 50_000_000 });
    try {
      const texts = Array.from({ length: 8000 }, (_, i) => words(120, i));
      const before = slowModel.stats().pairs;
      const res = await post(s.url, '/rerank', { query: 'q', texts });
      expect(res.status).toBe(503);
      expect(res.body.error).toMatch(/timed out/);
      expect(slowModel.stats().pairs - before).toBeLessThan(8000);
      expect(await (await fetch(`${s.url}/metrics`)).text()).toMatch(/te_request_failure\{err="timeout"\} 1/);
    } finally {
      await s.server.drain(1000);
      await slowModel.close();
    }
  });

  it('401 without the bearer key (constant-time compare); /health and /metrics stay open', async () => {
    const s = await start({ models: [{ name: 'm', model: bert }], apiKey: 's3cret' });
    try {
      expect((await post(s.url, '/rerank', { query: 'q', texts: ['a'] })).status).toBe(401);
      expect((await post(s.url, '/rerank', { query: 'q', texts: ['a'] }, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await post(s.url, '/rerank', { query: 'q', texts: ['a'] }, { authorization: 's3cret' })).status).toBe(401);
      expect((await post(s.url, '/rerank', { query: 'q', texts: ['a'] }, { authorization: 'Bearer s3cret' })).status).toBe(200);
      expect((await fetch(`${s.url}/info`)).status).toBe(401);
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
      expect((await fetch(`${s.url}/metrics`)).status).toBe(200);
    } finally {
      await s.server.drain(1000);
    }
  });

  it('404 {error, error_type} for an unknown route or method, as every other error; the server keeps serving', async () => {
    const unknown = await post(main.url, '/v3/rerank?x=1', { query: 'q', texts: ['a'] });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'no route POST /v3/rerank', error_type: 'Validation' });
    const wrongMethod = await fetch(`${main.url}/rerank`);
    expect(wrongMethod.status).toBe(404);
    expect(await wrongMethod.json()).toEqual({ error: 'no route GET /rerank', error_type: 'Validation' });
    const long = await fetch(`${main.url}/${'x'.repeat(5000)}`);
    expect(long.status).toBe(404);
    expect(((await long.json()) as { error: string }).error).toHaveLength('no route GET /'.length + 199 + 3);
    expect((await post(main.url, '/rerank', { query: 'q', texts: ['a'] })).status).toBe(200);
  });
});

describe('nothing a client sends crashes the server or reaches past validation', () => {
  it('400 random JSON bodies to every route answer below 500, and the server still scores correctly', async () => {
    const fc = await import('fast-check');
    const routes = ['/rerank', '/predict', '/v1/rerank', '/v2/rerank'];
    const text = fc.string({ maxLength: 12 });
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.record(
        {
          query: fc.oneof(text, fc.jsonValue({ maxDepth: 1 })),
          texts: fc.oneof(fc.array(text, { maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
          documents: fc.array(fc.oneof(text, fc.dictionary(text, fc.oneof(text, fc.integer())), fc.jsonValue({ maxDepth: 1 })), { maxLength: 5 }),
          inputs: fc.oneof(text, fc.array(text, { maxLength: 3 }), fc.array(fc.array(text, { maxLength: 3 }), { maxLength: 3 })),
          top_n: fc.oneof(fc.integer({ min: -2, max: 9 }), fc.double()),
          rank_fields: fc.array(fc.constantFrom('text', 'title', 'constructor', '__proto__', 'toString'), { maxLength: 3 }),
          model: fc.oneof(text, fc.constantFrom('bert-tiny', 'xlmr-3', '../../etc/passwd', '/tmp/x')),
          return_documents: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
          raw_scores: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
          truncation_direction: fc.constantFrom('left', 'right', 'Right', 'up'),
          max_tokens_per_doc: fc.integer({ min: -1, max: 5000 }),
        },
        { requiredKeys: [] },
      ),
    );
    const samples = fc.sample(fc.tuple(fc.constantFrom(...routes), body), { numRuns: 400, seed: 18 });
    const statuses = await Promise.all(samples.map(async ([route, b]) => (await post(main.url, route, b)).status));
    for (const [i, status] of statuses.entries()) expect([200, 400, 404, 413, 422, 424], JSON.stringify(samples[i])).toContain(status);
    const res = await post(main.url, '/rerank', { query: 'q', texts: ['a'], raw_scores: true });
    const logit = (await bert.predict([['q', 'a']], { activation: 'identity' }))[0]!;
    expect(res.body[0].score).toBeCloseTo(logit, 5);
  });
});

describe('mounted in an existing fastify app', () => {
  it('crossrankPlugin under a prefix, with the host app\'s own routes and its key', async () => {
    const { default: Fastify } = await import('fastify');
    const { crossrankPlugin } = await import('../lib/serve/index.js');
    const app = Fastify();
    app.get('/own', async () => ({ mine: true }));
    await app.register(crossrankPlugin, { prefix: '/rr', models: [{ name: 'm', model: bert }], apiKey: 'k' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${url}/own`)).json()).toEqual({ mine: true });
      expect((await fetch(`${url}/rr/health`)).status).toBe(200);
      expect((await post(url, '/rr/rerank', { query: 'q', texts: ['a'] })).status).toBe(401);
      const ok = await post(url, '/rr/v2/rerank', { query: 'q', documents: ['a', 'b'] }, { authorization: 'Bearer k' });
      expect(ok.status).toBe(200);
      expect(ok.body.results).toHaveLength(2);
      const bad = await post(url, '/rr/v2/rerank', { query: 'q', documents: 'a' }, { authorization: 'Bearer k' });
      expect(bad.status).toBe(422);
      expect(bad.body.message).toEqual(expect.any(String));
    } finally {
      await app.close();
    }
  });
});

describe('under load', () => {
  it('200 simultaneous requests from mixed APIs are each scored as if alone', async () => {
    type Job = { api: 'tei' | 'cohere2' | 'cohere1' | 'jina' | 'predict'; query: string; docs: string[] };
    const apis: Job['api'][] = ['tei', 'cohere2', 'cohere1', 'jina', 'predict'];
    const jobs: Job[] = Array.from({ length: 200 }, (_, i) => ({
      api: apis[i % apis.length]!,
      query: words(2 + (i % 4), i),
      docs: Array.from({ length: 1 + ((i * 7) % 23) }, (_, j) => words(2 + ((i + j) % 30), i * 31 + j)),
    }));
    // Alone: one call at a time, straight to the library.
    const alone: Float32Array[] = [];
    for (const job of jobs) alone.push(await bert.predict(job.docs.map((d) => [job.query, d] as [string, string]), { activation: 'identity' }));
    const answers = await Promise.all(
      jobs.map((job) => {
        switch (job.api) {
          case 'tei':
            return post(main.url, '/rerank', { query: job.query, texts: job.docs, raw_scores: true });
          case 'cohere2':
            return post(main.url, '/v2/rerank', { model: 'bert-tiny', query: job.query, documents: job.docs });
          case 'cohere1':
            return post(main.url, '/v1/rerank', { model: 'rerank-v4.0-pro', query: job.query, documents: job.docs.map((text) => ({ text })) });
          case 'jina':
            return post(main.url, '/v1/rerank', { query: job.query, documents: job.docs, return_documents: false });
          default:
            return post(main.url, '/predict', { inputs: job.docs.map((d) => [job.query, d]), raw_scores: true });
        }
      }),
    );
    for (const [i, job] of jobs.entries()) {
      const res = answers[i]!;
      expect(res.status, `${job.api} #${i}`).toBe(200);
      const logits = alone[i]!;
      const got = new Map<number, number>();
      if (job.api === 'tei') for (const r of res.body) got.set(r.index, r.score);
      else if (job.api === 'predict') res.body.forEach((p: any, k: number) => got.set(k, p[0].score));
      else for (const r of res.body.results) got.set(r.index, r.relevance_score);
      // TEI raw_scores and /predict give logits; Cohere and Jina the model's activation (sigmoid).
      const expected = (index: number): number => (job.api === 'tei' || job.api === 'predict' ? logits[index]! : sigmoid(logits[index]!));
      expect(got.size).toBe(job.docs.length);
      for (const [index, score] of got) expect(Math.abs(score - expected(index)), `${job.api} #${i} doc ${index}`).toBeLessThan(1e-5);
    }
  }, 60_000);

  it('a client that disconnects cancels its queued work (stats and te_request_failure{err="cancelled"})', async () => {
    const m = await CrossEncoder.load(modelDir('bert-tiny'), { threads: 1 });
    const s = await start({ models: [{ name: 'm', model: m }], maxClientBatchSize: 20000, payloadLimit: 50_000_000 });
    try {
      const texts = Array.from({ length: 8000 }, (_, i) => words(120, i));
      const before = m.stats().pairs;
      const body = JSON.stringify({ query: 'q', texts });
      const { port } = s.server.app.server.address() as AddressInfo;
      await new Promise<void>((resolve) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/rerank', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
        req.on('error', () => resolve());
        req.end(body, () => setTimeout(() => {
          req.destroy();
          resolve();
        }, 100));
      });
      // The aborted call settles quickly; then the scored pairs stop growing far short of 8,000.
      let metrics = '';
      for (let i = 0; i < 100 && !/err="cancelled"/.test(metrics); i++) {
        await new Promise((r) => setTimeout(r, 50));
        metrics = await (await fetch(`${s.url}/metrics`)).text();
      }
      expect(metrics).toMatch(/te_request_failure\{err="cancelled"\} 1/);
      expect(metrics).toMatch(/te_queue_size 0/);
      expect(m.stats().pairs - before).toBeLessThan(8000);
    } finally {
      await s.server.drain(1000);
      await m.close();
    }
  });

  it('/metrics has TEI names and the library counters', async () => {
    const text = await (await fetch(`${main.url}/metrics`)).text();
    for (const name of ['te_request_count', 'te_request_success', 'te_request_duration_bucket', 'te_request_queue_duration_bucket', 'te_request_inference_duration_bucket', 'te_request_tokenization_duration_bucket', 'te_queue_size', 'te_request_input_length_bucket', 'crossrank_padding_share', 'crossrank_batches_total', 'crossrank_pairs_total']) {
      expect(text, name).toContain(name);
    }
    expect(text).toMatch(/crossrank_padding_share\{model="bert-tiny"\} 0\.\d+/);
  });
});

describe('the official cohere-ai client, unchanged', () => {
  it('CohereClientV2.rerank and CohereClient.rerank (v1) talk to crossrank serve', async () => {
    const v2 = new CohereClientV2({ token: 'unused', environment: main.url });
    const f2 = fixture('cohere-v2-rerank');
    const r2 = await v2.rerank({ model: 'rerank-v4.0-pro', query: f2.request.query, documents: f2.request.documents, topN: 3 });
    expect(r2.results).toHaveLength(3);
    expect(typeof r2.results[0]!.relevanceScore).toBe('number');
    expect(r2.meta?.billedUnits?.searchUnits).toBe(1);
    const v1 = new CohereClient({ token: 'unused', environment: main.url });
    const r1 = await v1.rerank({ query: f2.request.query, documents: f2.request.documents, returnDocuments: true, topN: 2 });
    expect(r1.results).toHaveLength(2);
    expect(r1.results[0]!.document?.text).toBe(f2.request.documents[r1.results[0]!.index]);
    expect(r1.id).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('crossrank serve (the CLI)', () => {
  it('`crossrank/serve` resolves from ESM and CommonJS (the package exports entry)', () => {
    for (const code of [
      "const s = require('crossrank/serve'); if (typeof s.createServer !== 'function' || typeof s.crossrankPlugin !== 'function') process.exit(3)",
      "const s = await import('crossrank/serve'); if (typeof s.createServer !== 'function') process.exit(3)",
    ]) {
      const run = spawnSync(process.execPath, [...(code.includes('await') ? ['--input-type=module'] : []), '-e', code], { cwd: ROOT, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
    }
  });

  it('reads flags and CROSSRANK_* environment, flags winning', () => {
    const c = parseServeArgs(['--model', 'a/b', '--model', 'fast=./dir', '--port', '9000'], { CROSSRANK_PORT: '1', CROSSRANK_MAX_CLIENT_BATCH_SIZE: '8', CROSSRANK_AUTO_SPLIT: '1', CROSSRANK_API_KEY: 'k' });
    if (c === 'help') throw new Error('help');
    expect(c.models).toEqual([{ name: 'a/b', ref: 'a/b' }, { name: 'fast', ref: './dir' }]);
    expect(c.port).toBe(9000);
    expect(c.maxClientBatchSize).toBe(8);
    expect(c.autoSplit).toBe(true);
    expect(c.apiKey).toBe('k');
    // Durations are seconds on the command line, milliseconds inside; defaults too (30 s grace).
    expect(c.graceMs).toBe(30_000);
    expect(c.requestTimeoutMs).toBe(0);
    const timed = parseServeArgs(['--model', 'x', '--grace', '2.5', '--request-timeout', '1']);
    if (timed === 'help') throw new Error('help');
    expect([timed.graceMs, timed.requestTimeoutMs]).toEqual([2500, 1000]);
    expect(() => parseServeArgs(['--model', 'x', '--port', 'abc'])).toThrow(/--port/);
    expect(() => parseServeArgs([], {})).toThrow(/--model/);
  });

  it('SIGTERM mid-load: accepted requests all finish, then exit 0', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'serve', '--model', modelDir('bert-tiny'), '--port', '0', '--grace', '20', '--max-client-batch-size', '5000', '--payload-limit', '50000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const lines: string[] = [];
    const url = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        lines.push(line);
        if (line.includes('crossrank serve ready')) resolve(JSON.parse(line).address);
      });
      child.on('exit', () => reject(new Error(`exited early: ${lines.join('\n')}`)));
    });
    const texts = Array.from({ length: 600 }, (_, i) => words(20, i));
    const pending = Array.from({ length: 12 }, () => post(url, '/rerank', { query: 'q', texts }).catch((e: Error) => ({ status: -1, body: e.message, headers: new Headers() })));
    // Wait until all 12 are accepted (their pairs are in the model's queue), then stop the server.
    // On a loaded machine the model can score the first requests before the last are parsed, so
    // the queue may never hold all 12 at once: stop too once it is non-zero and shrinking (the
    // model is ahead of the arrivals), which is still mid-load.
    let queuedAtKill = 0;
    for (let i = 0, previous = 0; i < 400; i++) {
      const m = await (await fetch(`${url}/metrics`)).text();
      queuedAtKill = Number(/te_queue_size (\d+)/.exec(m)?.[1] ?? 0);
      if (queuedAtKill >= 12 * 600 || (queuedAtKill > 0 && queuedAtKill < previous)) break;
      previous = queuedAtKill;
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGTERM');
    expect(queuedAtKill).toBeGreaterThan(0); // the stop came mid-load
    const answers = await Promise.all(pending);
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
    expect(answers.every((a) => Array.isArray(a.body) && a.body.length === 600)).toBe(true);
    expect(await exited).toBe(0);
    expect(lines.join('\n')).toMatch(/"msg":"stopped"/);
    // Structured logs: the startup line names model, file, device and limits; one line per request.
    const logs = lines.map((l) => JSON.parse(l));
    const ready = logs.find((l) => l.msg === 'crossrank serve ready');
    expect(ready.models[0]).toMatchObject({ file: expect.stringMatching(/model\.onnx$/), device: 'cpu' });
    expect(ready.limits).toMatchObject({ maxClientBatchSize: 5000, payloadLimit: 50_000_000, graceMs: 20_000 });
    expect(logs.filter((l) => l.msg === 'request' && l.url === '/rerank' && l.status === 200)).toHaveLength(12);
  }, 60_000);
});
