// crossrank/langchain: crossrank as a LangChain.js document compressor, a drop-in for
// @langchain/cohere's CohereRerank that runs the model in process. Use it through
// ContextualCompressionRetriever (@langchain/classic/retrievers/contextual_compression in
// LangChain 1.x, langchain/retrievers/contextual_compression before).
import { Document, type DocumentInterface } from '@langchain/core/documents';
import type { Callbacks } from '@langchain/core/callbacks/manager';
import { BaseDocumentCompressor } from '@langchain/core/retrievers/document_compressors';
import type { CrossEncoder, LoadOptions } from 'crossrank';

import { type ForwardedRerankOptions, LazyModel, type ModelSource, checkForwarded, checkKeys, checkObject, invalid, optionalTopN, rerankWith } from './shared.js';

export type { ForwardedRerankOptions, ModelSource } from './shared.js';

/** Arguments of `new CrossrankRerank(...)`. */
export interface CrossrankRerankArgs {
  /** A loaded CrossEncoder (you close it), or a hub id or model folder loaded on first use (close() frees it). */
  model: ModelSource;
  /** Documents compressDocuments keeps, best first. Default 3, as CohereRerank's. */
  topN?: number;
  /** CrossEncoder.load options for a model given by id or folder. */
  loadOptions?: LoadOptions;
  /** Options given to every CrossEncoder.rerank call (batchSize, chunking, an instruction where the model takes one...). */
  rerankOptions?: ForwardedRerankOptions;
  /**
   * Cancels every call of this compressor (ABORTED), e.g. a request's signal: LangChain's
   * retrievers pass no signal to a compressor. rerank() also takes one per call.
   */
  signal?: AbortSignal;
}

const ARG_KEYS = ['model', 'topN', 'loadOptions', 'rerankOptions', 'signal'] as const;

/** What rerank() returns per document, as CohereRerank.rerank does: best first. */
export interface CrossrankRerankHit {
  /** Position in the documents given. */
  index: number;
  /** The cross-encoder's score (CrossEncoder.rerank's). */
  relevanceScore: number;
}

/**
 * A LangChain.js document compressor (BaseDocumentCompressor from @langchain/core) scoring with a
 * crossrank CrossEncoder.
 *
 * ```ts
 * const retriever = new ContextualCompressionRetriever({
 *   baseCompressor: new CrossrankRerank({ model: 'cross-encoder/ms-marco-MiniLM-L6-v2', topN: 5 }),
 *   baseRetriever: vectorStore.asRetriever(50),
 * });
 * const docs = await retriever.invoke('how do I rotate keys?'); // docs[i].metadata.relevanceScore
 * ```
 *
 * Scores are CrossEncoder.rerank's on each document's pageContent (the model's activation:
 * sigmoid for the ms-marco models). Errors are crossrank's coded CrossrankErrors: CLOSED on a
 * closed model, INVALID_ARGUMENT for a document without string pageContent, ABORTED.
 */
export class CrossrankRerank extends BaseDocumentCompressor {
  /** Documents compressDocuments keeps (default 3, as CohereRerank). */
  topN: number;
  readonly #model: LazyModel;
  readonly #forwarded: ForwardedRerankOptions;
  readonly #signal: AbortSignal | undefined;

  constructor(args: CrossrankRerankArgs) {
    super();
    const a = checkObject('CrossrankRerank args', args);
    checkKeys('CrossrankRerank args', a, ARG_KEYS);
    this.#model = new LazyModel('CrossrankRerank model', a.model as ModelSource, a.loadOptions as LoadOptions | undefined);
    this.topN = optionalTopN('CrossrankRerank topN', a.topN) ?? 3;
    this.#forwarded = checkForwarded('CrossrankRerank rerankOptions', a.rerankOptions);
    if (a.signal !== undefined && !(a.signal instanceof AbortSignal)) throw invalid('CrossrankRerank signal', 'an AbortSignal', a.signal);
    this.#signal = a.signal as AbortSignal | undefined;
  }

  /**
   * The best topN documents for the query, best first, each a copy with
   * `metadata.relevanceScore` set (CohereRerank's field); the inputs are not modified.
   */
  async compressDocuments(documents: DocumentInterface[], query: string, _callbacks?: Callbacks): Promise<DocumentInterface[]> {
    if (documents == null || documents.length === 0) return [];
    const hits = await this.#rank(documents, query, this.topN, this.#signal, 'documents');
    return hits.map(({ index, relevanceScore }) => {
      const doc = documents[index]!;
      return new Document({ pageContent: doc.pageContent, metadata: { ...doc.metadata, relevanceScore }, ...(doc.id !== undefined ? { id: doc.id } : {}) });
    });
  }

  /**
   * Ranks documents (Document objects, strings, or objects with a string `pageContent`) against
   * the query, as CohereRerank.rerank does: `[{ index, relevanceScore }]` best first, at most
   * topN (default: this.topN).
   */
  async rerank(
    documents: Array<DocumentInterface | string | Record<string, string>>,
    query: string,
    options?: { topN?: number; signal?: AbortSignal },
  ): Promise<CrossrankRerankHit[]> {
    const o = checkObject('options', options);
    checkKeys('options', o, ['topN', 'signal']);
    const topN = optionalTopN('options.topN', o.topN) ?? this.topN;
    return this.#rank(documents, query, topN, (o.signal as AbortSignal | undefined) ?? this.#signal, 'documents');
  }

  /** The CrossEncoder (loads it if given by id or folder). */
  model(): Promise<CrossEncoder> {
    return this.#model.get();
  }

  /** Frees a model this compressor loaded (not a CrossEncoder passed in); later calls reject with CLOSED. */
  close(): Promise<void> {
    return this.#model.close();
  }

  async #rank(documents: ReadonlyArray<unknown>, query: string, topN: number, signal: AbortSignal | undefined, name: string): Promise<CrossrankRerankHit[]> {
    if (!Array.isArray(documents)) throw invalid(name, 'an array', documents);
    const texts = documents.map((doc, i) => {
      if (typeof doc === 'string') return doc;
      const text = doc !== null && typeof doc === 'object' ? (doc as { pageContent?: unknown }).pageContent : undefined;
      if (typeof text !== 'string') throw invalid(`${name}[${i}]`, 'a string or a document with a string pageContent', doc);
      return text;
    });
    if (texts.length === 0) return [];
    const ce = await this.#model.get();
    const hits = await rerankWith(ce, query, texts, this.#forwarded, topN, signal);
    return hits.map((hit) => ({ index: hit.index, relevanceScore: hit.score }));
  }
}
