// Clients that send null for absent optional fields: every optional field of the TEI, Cohere (v1,
// v2) and Jina request bodies takes null as absent, required fields still answer 422 on null, and
// the official clients (cohere-ai v1 and v2, @langchain/cohere's CohereRerank, @ai-sdk/cohere
// through ai's rerank()) get 200 with crossrank's ranking. Their request bodies are recorded by a
// hook of the host app, so the test also shows what each client really sends.
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';

import { createCohere } from '@ai-sdk/cohere';
import { CohereRerank } from '@langchain/cohere';
import { Document } from '@langchain/core/documents';
import { rerank } from 'ai';
import { CohereClient, CohereClientV2 } from 'cohere-ai';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/cross-encoder.js';
import { crossrankPlugin } from '../lib/serve/index.js';
import { modelDir } from './helpers.js';

const QUERY = 'how do rivers shape stone';
const DOCS = ['The river carved the stone.', 'Paper houses are light.', 'Music from the north.', 'Water erodes rock and polishes stones.'];

let ce: CrossEncoder;
let app: FastifyInstance;
let url: string;
let expected: { index: number; score: number }[];
let logits: { index: number; score: number }[];
const seen: { url: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  ce = await CrossEncoder.load(modelDir('bert-tiny'));
  expected = await ce.rerank(QUERY, DOCS);
  logits = await ce.rerank(QUERY, DOCS, { activation: 'identity' });
  app = Fastify({ logger: false });
  app.addHook('preValidation', async (request) => {
    seen.push({ url: request.url, body: structuredClone(request.body) as Record<string, unknown> });
  });
  await app.register(crossrankPlugin, { models: [{ name: 'bert-tiny', model: ce }] });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close();
  await ce?.close();
});

async function post(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const lastBody = (path: string): Record<string, unknown> => seen.filter((s) => s.url === path).at(-1)!.body;
const sigmoid = (x: number): number => Math.fround(1 / (1 + Math.exp(-x)));

describe('null means absent for optional fields; required fields refuse null', () => {
  const routes = [
    { path: '/rerank', required: { query: QUERY, texts: DOCS }, optional: ['truncate', 'truncation_direction', 'raw_scores', 'return_text', 'model'] },
    { path: '/predict', required: { inputs: [[QUERY, DOCS[0]]] }, optional: ['truncate', 'truncation_direction', 'raw_scores', 'model'] },
    { path: '/v2/rerank', required: { query: QUERY, documents: DOCS }, optional: ['model', 'top_n', 'max_tokens_per_doc', 'priority'] },
    { path: '/v1/rerank', required: { query: QUERY, documents: DOCS }, optional: ['model', 'top_n', 'return_documents', 'rank_fields', 'max_chunks_per_doc', 'max_tokens_per_doc'] },
  ];
  for (const route of routes) {
    it(`${route.path}: every optional field null answers 200 as if absent; each required field null answers 422`, async () => {
      const absent = await post(route.path, route.required);
      expect(absent.status).toBe(200);
      const nulls = await post(route.path, { ...route.required, ...Object.fromEntries(route.optional.map((k) => [k, null])) });
      expect(nulls.status).toBe(200);
      const strip = (b: any): unknown => (Array.isArray(b) ? b : { ...b, id: undefined, results: b.results });
      // Same answer; Cohere's id is a fresh UUID, and /v1/rerank flavour may differ by max_chunks_per_doc (Cohere vs Jina).
      if (route.path === '/v1/rerank') {
        expect(nulls.body.results.map((r: any) => [r.index, r.relevance_score])).toEqual(expected.map((h) => [h.index, h.score]));
      } else {
        expect(strip(nulls.body)).toEqual(strip(absent.body));
      }
      for (const key of Object.keys(route.required)) {
        const res = await post(route.path, { ...route.required, [key]: null });
        expect(res.status, `${route.path} ${key}: null`).toBe(422);
      }
    });
  }

  it('null items inside required arrays still answer 422', async () => {
    expect((await post('/rerank', { query: QUERY, texts: ['a', null] })).status).toBe(422);
    expect((await post('/v1/rerank', { query: QUERY, documents: ['a', null] })).status).toBe(422);
    expect((await post('/v2/rerank', { query: QUERY, documents: [null] })).status).toBe(422);
  });
});

describe('the official clients, pointed at crossrank serve, get 200 with crossrank\'s ranking', () => {
  it('cohere-ai CohereClientV2.rerank and CohereClient.rerank (v1)', async () => {
    const v2 = new CohereClientV2({ token: 'unused', environment: url });
    const r2 = await v2.rerank({ model: 'rerank-v3.5', query: QUERY, documents: DOCS });
    expect(r2.results.map((r) => [r.index, r.relevanceScore])).toEqual(expected.map((h) => [h.index, h.score]));
    const v1 = new CohereClient({ token: 'unused', environment: url });
    const r1 = await v1.rerank({ model: 'rerank-v3.5', query: QUERY, documents: DOCS, topN: 2, maxChunksPerDoc: undefined });
    expect(r1.results.map((r) => [r.index, r.relevanceScore])).toEqual(expected.slice(0, 2).map((h) => [h.index, h.score]));
  });

  it("@langchain/cohere CohereRerank over cohere-ai 8 and over its own cohere-ai 7 (it sends max_chunks_per_doc: null, the 422 of the issue)", async () => {
    // The setup: a cohere-ai 8.1 client handed in (its CohereClient type is another copy's, hence the cast).
    const client = new CohereClient({ token: 'unused', environment: url }) as never;
    await checkLangChain(new CohereRerank({ client, model: 'rerank-v3.5', topN: 3 }));
    // The cohere-ai that @langchain/cohere depends on itself (7.x), as its default client would be.
    const own = createRequire(createRequire(import.meta.url).resolve('@langchain/cohere'))('cohere-ai') as typeof import('cohere-ai');
    await checkLangChain(new CohereRerank({ client: new own.CohereClient({ token: 'unused', environment: url }) as never, model: 'rerank-v3.5', topN: 3 }));
  });

  async function checkLangChain(reranker: CohereRerank): Promise<void> {
    const docs = await reranker.compressDocuments(DOCS.map((pageContent) => new Document({ pageContent })), QUERY);
    expect(lastBody('/v1/rerank')).toHaveProperty('max_chunks_per_doc', null);
    expect(docs.map((d) => [d.pageContent, d.metadata.relevanceScore])).toEqual(expected.slice(0, 3).map((h) => [DOCS[h.index], h.score]));
    const ranked = await reranker.rerank(DOCS, QUERY);
    expect(ranked).toEqual(expected.slice(0, 3).map((h) => ({ index: h.index, relevanceScore: h.score })));
  }

  it('@ai-sdk/cohere through ai 7 rerank() (text and object documents)', async () => {
    const cohere = createCohere({ apiKey: 'unused', baseURL: `${url}/v2` });
    const result = await rerank({ model: cohere.reranking('rerank-v3.5'), query: QUERY, documents: DOCS, topN: 3 });
    expect(result.ranking.map((r) => [r.originalIndex, r.score])).toEqual(expected.slice(0, 3).map((h) => [h.index, h.score]));
    const objects = DOCS.map((text) => ({ text }));
    const asObjects = await rerank({ model: cohere.reranking('rerank-v3.5'), query: QUERY, documents: objects });
    const json = await ce.rerank(QUERY, objects.map((o) => JSON.stringify(o)));
    expect(asObjects.ranking.map((r) => [r.originalIndex, r.score])).toEqual(json.map((h) => [h.index, h.score]));
  });

  it('TEI /rerank with nulls as a TEI client may send them: sigmoid of the logits, best first', async () => {
    const res = await post('/rerank', { query: QUERY, texts: DOCS, raw_scores: null, return_text: null, truncate: null, truncation_direction: null });
    expect(res.body.map((r: any) => [r.index, r.score])).toEqual(logits.map((h) => [h.index, sigmoid(h.score)]));
  });
});
