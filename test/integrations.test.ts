// crossrank inside the frameworks, driven through each framework's own entry points (no mock of
// any framework): the AI SDK's rerank() of ai 7 and ai 6, LangChain.js's
// ContextualCompressionRetriever, LlamaIndex.TS's RetrieverQueryEngine (with the MockLLM that
// @llamaindex/core itself ships). In each, ranking and scores equal CrossEncoder.rerank on the same
// model; abort, a closed model and bad documents give crossrank's coded errors.
import { ContextualCompressionRetriever } from '@langchain/classic/retrievers/contextual_compression';
import { Document, type DocumentInterface } from '@langchain/core/documents';
import { BaseRetriever as LangChainRetriever } from '@langchain/core/retrievers';
import { MockLLM } from '@llamaindex/core/llms/mock';
import { RetrieverQueryEngine } from '@llamaindex/core/query-engine';
import { getResponseSynthesizer } from '@llamaindex/core/response-synthesizers';
import { BaseRetriever as LlamaRetriever } from '@llamaindex/core/retriever';
import { type NodeWithScore, TextNode } from '@llamaindex/core/schema';
import { createProviderRegistry, customProvider, rerank as rerank7 } from 'ai';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rerank as rerank6, createProviderRegistry as createProviderRegistry6 } from 'ai6';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/cross-encoder.js';
import { CrossrankError } from '../lib/errors.js';
import { createCrossrank } from '../lib/integrations/ai-sdk.js';
import { CrossrankRerank as LangChainRerank } from '../lib/integrations/langchain.js';
import { CrossrankRerank as LlamaRerank } from '../lib/integrations/llamaindex.js';
import { FIXTURES, modelDir } from './helpers.js';

const QUERY = 'how do rivers shape stone';
const DOCS = [
  'The river carved the stone over many centuries.',
  'Paper houses are light and green.',
  'Music from the north travels by train.',
  'Water erodes rock: rivers cut valleys and polish stones.',
  'An apple a day.',
  'Clouds drift over the house.',
];

let ce: CrossEncoder;
let expected: { index: number; score: number }[];

beforeAll(async () => {
  ce = await CrossEncoder.load(modelDir('bert-tiny'));
  expected = await ce.rerank(QUERY, DOCS);
  // The fixture must tell the documents apart, or order checks prove nothing.
  expect(new Set(expected.map((h) => h.score)).size).toBe(DOCS.length);
});

afterAll(async () => {
  await ce?.close();
});

/** A closed copy of the fixture model. */
async function closedModel(): Promise<CrossEncoder> {
  const m = await CrossEncoder.load(modelDir('bert-tiny'));
  await m.close();
  return m;
}

/** Many documents, so that an abort lands while the call is queued or running. */
const MANY = Array.from({ length: 4000 }, (_, i) => `${DOCS[i % DOCS.length]} variant ${i} ${'word '.repeat(i % 50)}`);

/**
 * ai 6 and ai 7 each type against their own @ai-sdk/provider (3.x and 4.x, both installed here);
 * the two versions' JSONValue types differ only in readonly-ness. A user has one of them, and
 * crossrank's types resolve to it; in this tree the ai 6 calls need the cast.
 */
const for6 = <T>(value: T): never => value as never;

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

describe('crossrank/ai-sdk through rerank() of ai 7 and ai 6', () => {
  for (const [name, rerank] of [['ai 7', rerank7], ['ai 6', rerank6]] as const) {
    it(`${name}: rerank({ model: crossrank.reranking(dir) }) ranks and scores as ce.rerank, honours topN, reports metadata`, async () => {
      const crossrank = createCrossrank();
      try {
        const model = crossrank.reranking(modelDir('bert-tiny'));
        const result = await (rerank as typeof rerank7)({ model, query: QUERY, documents: DOCS });
        expect(result.ranking.map((r) => [r.originalIndex, r.score])).toEqual(expected.map((h) => [h.index, h.score]));
        expect(result.rerankedDocuments).toEqual(expected.map((h) => DOCS[h.index]));
        const meta = result.providerMetadata?.crossrank as Record<string, unknown>;
        expect(meta.device).toBe('cpu');
        expect(meta.file).toMatch(/model\.onnx$/);
        expect(meta.model).toBe(ce.info.dir);
        const { ids } = await ce.tokenize(DOCS.map((d): [string, string] => [QUERY, d]));
        expect(meta.tokens).toBe(ids.reduce((n, row) => n + row.length, 0));
        const top = await (rerank as typeof rerank7)({ model, query: QUERY, documents: DOCS, topN: 2 });
        expect(top.ranking.map((r) => r.originalIndex)).toEqual(expected.slice(0, 2).map((h) => h.index));
      } finally {
        await crossrank.close();
      }
    });
  }

  it('the model loads once, lazily, shared by every model object for the same id and options', async () => {
    const crossrank = createCrossrank();
    const a = crossrank.reranking(modelDir('bert-tiny'));
    const b = crossrank(modelDir('bert-tiny'));
    const [ma, mb] = await Promise.all([a.model(), b.model()]);
    expect(ma).toBe(mb);
    const c = crossrank.reranking(modelDir('bert-tiny'), { maxLength: 64 });
    expect(await c.model()).not.toBe(ma);
    await crossrank.close();
    expect(ma.closed).toBe(true);
    expect(await codeOf(rerank7({ model: a, query: QUERY, documents: DOCS }))).toBe('CLOSED');
  });

  it('object documents: JSON with the @ai-sdk/cohere warning, or documentToText without one', async () => {
    const objects = DOCS.map((text, id) => ({ id, text }));
    const crossrank = createCrossrank();
    const asJson = await rerank7({ model: crossrank.reranking(ce), query: QUERY, documents: objects });
    const jsonExpected = await ce.rerank(QUERY, objects.map((o) => JSON.stringify(o)));
    expect(asJson.ranking.map((r) => [r.originalIndex, r.score])).toEqual(jsonExpected.map((h) => [h.index, h.score]));
    expect(asJson.rerankedDocuments[0]).toBe(objects[jsonExpected[0]!.index]);
    const warned = await crossrank.reranking(ce).doRerank({ query: QUERY, documents: { type: 'object', values: objects } });
    expect(warned.warnings).toEqual([{ type: 'compatibility', feature: 'object documents', details: 'Object documents are converted to strings.' }]);

    const byText = createCrossrank({ documentToText: (d) => String(d.text) });
    const direct = await byText.reranking(ce).doRerank({ query: QUERY, documents: { type: 'object', values: objects } });
    expect(direct.warnings).toEqual([]);
    expect(direct.ranking).toEqual(expected.map((h) => ({ index: h.index, relevanceScore: h.score })));
  });

  it('abortSignal cancels with ABORTED; a closed model gives CLOSED; bad documents give INVALID_ARGUMENT', async () => {
    const crossrank = createCrossrank();
    const model = crossrank.reranking(ce);
    const controller = new AbortController();
    const pending = rerank7({ model, query: QUERY, documents: MANY, abortSignal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    expect(await codeOf(pending)).toBe('ABORTED');
    expect(await codeOf(rerank6({ model: for6(model), query: QUERY, documents: DOCS, abortSignal: AbortSignal.abort() }))).toBe('ABORTED');
    expect(await codeOf(rerank7({ model: crossrank.reranking(await closedModel()), query: QUERY, documents: DOCS }))).toBe('CLOSED');
    expect(await codeOf(rerank7({ model, query: QUERY, documents: ['fine', 5 as unknown as string] }))).toBe('INVALID_ARGUMENT');
    const bad = createCrossrank({ documentToText: () => 42 as unknown as string });
    expect(await codeOf(rerank7({ model: bad.reranking(ce), query: QUERY, documents: [{ a: 1 }] }))).toBe('INVALID_ARGUMENT');
    // The error is crossrank's own class, not a framework wrapper.
    await expect(rerank7({ model: crossrank.reranking(await closedModel()), query: QUERY, documents: DOCS })).rejects.toBeInstanceOf(CrossrankError);
    // Forwarded options are crossrank's: an unknown one is refused, not ignored.
    expect(await codeOf(rerank7({ model, query: QUERY, documents: DOCS, providerOptions: { crossrank: { nope: 1 } } }))).toBe('INVALID_ARGUMENT');
    const viaProvider = await rerank7({ model, query: QUERY, documents: DOCS, providerOptions: { crossrank: { activation: 'identity' } } });
    const logits = await ce.rerank(QUERY, DOCS, { activation: 'identity' });
    expect(viaProvider.ranking.map((r) => r.score)).toEqual(logits.map((h) => h.score));
  });

  it('registries and customProvider of ai 7 and ai 6 take the provider and its models', async () => {
    const crossrank = createCrossrank();
    try {
      const registry = createProviderRegistry({ crossrank });
      const viaRegistry = await rerank7({ model: registry.rerankingModel(`crossrank:${modelDir('bert-tiny')}`), query: QUERY, documents: DOCS });
      expect(viaRegistry.ranking.map((r) => r.score)).toEqual(expected.map((h) => h.score));
      expect(() => registry.languageModel('crossrank:x')).toThrow(/reranking models only/);
      const registry6 = createProviderRegistry6({ crossrank: for6(crossrank) });
      const via6 = await rerank6({ model: registry6.rerankingModel(`crossrank:${modelDir('bert-tiny')}`), query: QUERY, documents: DOCS });
      expect(via6.ranking.map((r) => r.score)).toEqual(expected.map((h) => h.score));
      const custom = customProvider({ rerankingModels: { fast: crossrank.reranking(ce) } });
      const viaCustom = await rerank7({ model: custom.rerankingModel('fast'), query: QUERY, documents: DOCS });
      expect(viaCustom.ranking.map((r) => r.originalIndex)).toEqual(expected.map((h) => h.index));
    } finally {
      await crossrank.close();
    }
  });
});

/** A small LangChain retriever: the same documents (objects) each time, in a fixed order, as a vector store hands them on. */
class ListRetriever extends LangChainRetriever {
  lc_namespace = ['crossrank', 'test'];
  constructor(private readonly docs: DocumentInterface[]) {
    super();
  }
  async _getRelevantDocuments(): Promise<DocumentInterface[]> {
    return this.docs.slice();
  }
}

describe('crossrank/langchain through ContextualCompressionRetriever', () => {
  const documents = DOCS.map((pageContent, i) => new Document({ pageContent, metadata: { source: i } }));

  it('retriever.invoke(query): the best topN (default 3, as CohereRerank) with metadata.relevanceScore = ce.rerank scores', async () => {
    const retriever = new ContextualCompressionRetriever({ baseCompressor: new LangChainRerank({ model: ce }), baseRetriever: new ListRetriever(documents) });
    const docs = await retriever.invoke(QUERY);
    expect(docs.map((d) => [d.metadata.source, d.metadata.relevanceScore])).toEqual(expected.slice(0, 3).map((h) => [h.index, h.score]));
    const all = new ContextualCompressionRetriever({ baseCompressor: new LangChainRerank({ model: ce, topN: 10 }), baseRetriever: new ListRetriever(documents) });
    expect((await all.invoke(QUERY)).map((d) => d.pageContent)).toEqual(expected.map((h) => DOCS[h.index]));
    expect((documents[0]!.metadata as Record<string, unknown>).relevanceScore).toBeUndefined(); // inputs untouched
  });

  it('rerank(documents, query) answers as CohereRerank.rerank; a model given by folder loads once and close() frees it', async () => {
    const compressor = new LangChainRerank({ model: modelDir('bert-tiny'), topN: 4 });
    const hits = await compressor.rerank([DOCS[0]!, ...documents.slice(1, 3), { pageContent: DOCS[3]! }, ...DOCS.slice(4)], QUERY);
    expect(hits).toEqual(expected.slice(0, 4).map((h) => ({ index: h.index, relevanceScore: h.score })));
    const loaded = await compressor.model();
    expect(await compressor.model()).toBe(loaded);
    await compressor.close();
    expect(loaded.closed).toBe(true);
    expect(await codeOf(compressor.rerank(DOCS, QUERY))).toBe('CLOSED');
  });

  it('abort, a closed model and bad documents give ABORTED, CLOSED and INVALID_ARGUMENT through the retriever', async () => {
    const controller = new AbortController();
    const many = MANY.map((pageContent) => new Document({ pageContent }));
    const aborting = new ContextualCompressionRetriever({ baseCompressor: new LangChainRerank({ model: ce, signal: controller.signal }), baseRetriever: new ListRetriever(many) });
    const pending = aborting.invoke(QUERY);
    setTimeout(() => controller.abort(), 5);
    expect(await codeOf(pending)).toBe('ABORTED');
    expect(await codeOf(new LangChainRerank({ model: ce }).rerank(DOCS, QUERY, { signal: AbortSignal.abort() }))).toBe('ABORTED');
    const closed = new ContextualCompressionRetriever({ baseCompressor: new LangChainRerank({ model: await closedModel() }), baseRetriever: new ListRetriever(documents) });
    expect(await codeOf(closed.invoke(QUERY))).toBe('CLOSED');
    const broken = [new Document({ pageContent: 'fine' }), { pageContent: 7, metadata: {} } as unknown as DocumentInterface];
    const bad = new ContextualCompressionRetriever({ baseCompressor: new LangChainRerank({ model: ce }), baseRetriever: new ListRetriever(broken) });
    expect(await codeOf(bad.invoke(QUERY))).toBe('INVALID_ARGUMENT');
    expect(() => new LangChainRerank({ model: ce, topN: -1 })).toThrow(CrossrankError);
  });
});

/** A small LlamaIndex retriever: every node with a made-up vector score, in a fixed order. */
class NodeListRetriever extends LlamaRetriever {
  constructor(private readonly nodes: TextNode[]) {
    super();
  }
  async _retrieve(): Promise<NodeWithScore[]> {
    return this.nodes.map((node, i) => ({ node, score: 1 - i / 100 }));
  }
}

/** The response synthesizer with the LLM stub @llamaindex/core ships: no LLM is called for real. */
const synthesizer = () => getResponseSynthesizer('compact', { llm: new MockLLM() });

describe('crossrank/llamaindex in a RetrieverQueryEngine', () => {
  const nodes = DOCS.map((text, i) => new TextNode({ text, id_: `doc-${i}` }));
  const indexOf = (n: NodeWithScore): number => Number(n.node.id_.slice(4));

  it('engine.retrieve and engine.query (MockLLM): the best topN nodes with ce.rerank scores', async () => {
    const engine = new RetrieverQueryEngine(new NodeListRetriever(nodes), synthesizer(), [new LlamaRerank({ model: ce, topN: 3 })]);
    const retrieved = await engine.retrieve(QUERY);
    expect(retrieved.map((n) => [indexOf(n), n.score])).toEqual(expected.slice(0, 3).map((h) => [h.index, h.score]));
    const response = await engine.query({ query: QUERY });
    expect(response.sourceNodes?.map((n) => [indexOf(n), n.score])).toEqual(expected.slice(0, 3).map((h) => [h.index, h.score]));
    // Default topN 2; a multi-modal query is read by its text parts.
    const two = await new LlamaRerank({ model: ce }).postprocessNodes(
      nodes.map((node) => ({ node, score: 0 })),
      [{ type: 'text', text: QUERY }, { type: 'image_url', image_url: { url: 'data:,' } }],
    );
    expect(two.map((n) => [indexOf(n), n.score])).toEqual(expected.slice(0, 2).map((h) => [h.index, h.score]));
  });

  it('metadataMode decides the text scored: EMBED (default) includes the node metadata', async () => {
    const withMeta = DOCS.map((text, i) => new TextNode({ text, id_: `doc-${i}`, metadata: { topic: i % 2 ? 'stone' : 'paper' } }));
    const embed = await new LlamaRerank({ model: ce, topN: 6 }).postprocessNodes(withMeta.map((node) => ({ node })), QUERY);
    const texts = withMeta.map((n) => n.getContent('EMBED' as never));
    expect(texts[0]).toContain('topic: paper');
    expect(embed.map((n) => n.score)).toEqual((await ce.rerank(QUERY, texts)).map((h) => h.score));
    const none = await new LlamaRerank({ model: ce, topN: 6, metadataMode: 'NONE' }).postprocessNodes(withMeta.map((node) => ({ node })), QUERY);
    expect(none.map((n) => n.score)).toEqual(expected.map((h) => h.score));
  });

  it('abort, a closed model, a missing query and bad nodes give ABORTED, CLOSED and INVALID_ARGUMENT', async () => {
    const controller = new AbortController();
    const many = MANY.map((text, i) => new TextNode({ text, id_: `doc-${i}` }));
    const engine = new RetrieverQueryEngine(new NodeListRetriever(many), synthesizer(), [new LlamaRerank({ model: ce, signal: controller.signal })]);
    const pending = engine.retrieve(QUERY);
    setTimeout(() => controller.abort(), 5);
    expect(await codeOf(pending)).toBe('ABORTED');
    const closed = new RetrieverQueryEngine(new NodeListRetriever(nodes), synthesizer(), [new LlamaRerank({ model: await closedModel() })]);
    expect(await codeOf(closed.retrieve(QUERY))).toBe('CLOSED');
    expect(await codeOf(new LlamaRerank({ model: ce }).postprocessNodes(nodes.map((node) => ({ node }))))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(new LlamaRerank({ model: ce }).postprocessNodes([{ node: {} } as unknown as NodeWithScore], QUERY))).toBe('INVALID_ARGUMENT');
    const lazy = new LlamaRerank({ model: modelDir('bert-tiny') });
    const loaded = await lazy.model();
    await lazy.close();
    expect(loaded.closed).toBe(true);
  });
});

describe('the packaged subpath exports (dist/, as users import them)', () => {
  const ROOT = join(FIXTURES, '..', '..');
  const node = (code: string, esm = false) => spawnSync(process.execPath, [...(esm ? ['--input-type=module'] : []), '-e', code], { cwd: ROOT, encoding: 'utf8' });

  it("require and import of crossrank/ai-sdk, /langchain, /llamaindex share crossrank's classes; crossrank alone loads no framework", () => {
    const dir = JSON.stringify(modelDir('bert-tiny'));
    const cjs = node(`
      const { CrossEncoder, CrossrankError } = require('crossrank');
      const frameworks = () => Object.keys(require.cache).filter((f) => /node_modules\\/(ai|ai6|@ai-sdk|@langchain|@llamaindex)\\//.test(f));
      if (frameworks().length) { console.error('crossrank loaded', frameworks()); process.exit(3); }
      const { createCrossrank } = require('crossrank/ai-sdk');
      const { CrossrankRerank: L } = require('crossrank/langchain');
      const { CrossrankRerank: X } = require('crossrank/llamaindex');
      if (!frameworks().some((f) => f.includes('@langchain/core'))) process.exit(5); // the check above can see a framework
      (async () => {
        const ce = await CrossEncoder.load(${dir});
        await ce.close();
        for (const run of [
          () => createCrossrank().reranking(ce).doRerank({ query: 'q', documents: { type: 'text', values: ['a'] } }),
          () => new L({ model: ce }).rerank(['a'], 'q'),
          () => new X({ model: ce }).postprocessNodes([], 'q').then(() => new X({ model: ce }).postprocessNodes([{ node: { getContent: () => 'a' } }], 'q')),
        ]) {
          const error = await run().then(() => undefined, (e) => e);
          if (!(error instanceof CrossrankError) || error.code !== 'CLOSED') { console.error(error); process.exit(4); }
        }
      })();`);
    expect(cjs.status, cjs.stderr).toBe(0);
    const esm = node(`
      const { CrossEncoder } = await import('crossrank');
      const { createCrossrank } = await import('crossrank/ai-sdk');
      const { rerank } = await import('ai');
      const ce = await CrossEncoder.load(${dir});
      const { ranking } = await rerank({ model: createCrossrank().reranking(ce), query: 'rivers', documents: ['a river', 'a stone'] });
      const direct = await ce.rerank('rivers', ['a river', 'a stone']);
      if (JSON.stringify(ranking.map((r) => [r.originalIndex, r.score])) !== JSON.stringify(direct.map((h) => [h.index, h.score]))) process.exit(3);
      await ce.close();`, true);
    expect(esm.status, esm.stderr).toBe(0);
  });
});
