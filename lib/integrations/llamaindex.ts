// crossrank/llamaindex: crossrank as a LlamaIndex.TS node postprocessor (BaseNodePostprocessor
// from @llamaindex/core), for a query engine's `nodePostprocessors` or on a retriever's nodes.
// Types only are imported from @llamaindex/core: nothing of it is loaded at run time.
import type { MessageContent } from '@llamaindex/core/llms';
import type { BaseNodePostprocessor } from '@llamaindex/core/postprocessor';
import type { MetadataMode, NodeWithScore } from '@llamaindex/core/schema';
import type { CrossEncoder, LoadOptions } from 'crossrank';

import { type ForwardedRerankOptions, LazyModel, type ModelSource, checkForwarded, checkKeys, checkObject, invalid, optionalTopN, rerankWith } from './shared.js';

export type { ForwardedRerankOptions, ModelSource } from './shared.js';

/** Arguments of `new CrossrankRerank(...)`. */
export interface CrossrankRerankArgs {
  /** A loaded CrossEncoder (you close it), or a hub id or model folder loaded on first use (close() frees it). */
  model: ModelSource;
  /** Nodes kept, best first. Default 2, as LlamaIndex's CohereRerank and SentenceTransformerRerank. */
  topN?: number;
  /** CrossEncoder.load options for a model given by id or folder. */
  loadOptions?: LoadOptions;
  /** Options given to every CrossEncoder.rerank call (batchSize, chunking, an instruction where the model takes one...). */
  rerankOptions?: ForwardedRerankOptions;
  /**
   * Which text of a node is scored (`node.getContent(mode)`): 'EMBED' (default; the text with the
   * metadata the node embeds, as LlamaIndex's rerankers read it), 'NONE' (text only), 'LLM', 'ALL'.
   */
  metadataMode?: `${MetadataMode}`;
  /** Cancels every call of this postprocessor (ABORTED): query engines pass no signal to postprocessors. */
  signal?: AbortSignal;
}

const ARG_KEYS = ['model', 'topN', 'loadOptions', 'rerankOptions', 'metadataMode', 'signal'] as const;
const MODES = ['ALL', 'EMBED', 'LLM', 'NONE'];

/**
 * A LlamaIndex.TS node postprocessor scoring with a crossrank CrossEncoder.
 *
 * ```ts
 * const engine = index.asQueryEngine({
 *   similarityTopK: 50,
 *   nodePostprocessors: [new CrossrankRerank({ model: 'cross-encoder/ms-marco-MiniLM-L6-v2', topN: 5 })],
 * });
 * ```
 *
 * postprocessNodes returns the best topN nodes, best first, each `{ node, score }` with the
 * cross-encoder's score (CrossEncoder.rerank: the model's activation, sigmoid for the ms-marco
 * models); the nodes given are not modified. Errors are crossrank's coded CrossrankErrors:
 * INVALID_ARGUMENT without a query, CLOSED on a closed model, ABORTED.
 */
export class CrossrankRerank implements BaseNodePostprocessor {
  /** Nodes kept (default 2). */
  topN: number;
  readonly #model: LazyModel;
  readonly #forwarded: ForwardedRerankOptions;
  readonly #mode: MetadataMode;
  readonly #signal: AbortSignal | undefined;

  constructor(args: CrossrankRerankArgs) {
    const a = checkObject('CrossrankRerank args', args);
    checkKeys('CrossrankRerank args', a, ARG_KEYS);
    this.#model = new LazyModel('CrossrankRerank model', a.model as ModelSource, a.loadOptions as LoadOptions | undefined);
    this.topN = optionalTopN('CrossrankRerank topN', a.topN) ?? 2;
    this.#forwarded = checkForwarded('CrossrankRerank rerankOptions', a.rerankOptions);
    if (a.metadataMode !== undefined && !MODES.includes(a.metadataMode as string)) throw invalid('CrossrankRerank metadataMode', MODES.join(', '), a.metadataMode);
    this.#mode = (a.metadataMode ?? 'EMBED') as MetadataMode;
    if (a.signal !== undefined && !(a.signal instanceof AbortSignal)) throw invalid('CrossrankRerank signal', 'an AbortSignal', a.signal);
    this.#signal = a.signal as AbortSignal | undefined;
  }

  /**
   * Scores each node's content against the query (its text parts when it is multi-modal
   * MessageContent) and keeps the best topN, best first.
   */
  async postprocessNodes(nodes: NodeWithScore[], query?: MessageContent): Promise<NodeWithScore[]> {
    if (query === undefined) throw invalid('query', 'the query (MessageContent)', query);
    const text = queryText(query);
    if (!Array.isArray(nodes)) throw invalid('nodes', 'an array', nodes);
    if (nodes.length === 0) return [];
    const texts = nodes.map((n, i) => {
      const node = n !== null && typeof n === 'object' ? n.node : undefined;
      if (node === null || typeof node !== 'object' || typeof node.getContent !== 'function') throw invalid(`nodes[${i}]`, 'a NodeWithScore ({ node, score })', n);
      const content: unknown = node.getContent(this.#mode);
      if (typeof content !== 'string') throw invalid(`nodes[${i}].node.getContent()`, 'a string', content);
      return content;
    });
    const ce = await this.#model.get();
    const hits = await rerankWith(ce, text, texts, this.#forwarded, this.topN, this.#signal);
    return hits.map((hit) => ({ node: nodes[hit.index]!.node, score: hit.score }));
  }

  /** The CrossEncoder (loads it if given by id or folder). */
  model(): Promise<CrossEncoder> {
    return this.#model.get();
  }

  /** Frees a model this postprocessor loaded (not a CrossEncoder passed in); later calls reject with CLOSED. */
  close(): Promise<void> {
    return this.#model.close();
  }
}

/** The query's text, as @llamaindex/core's extractText reads MessageContent: text parts joined by blank lines. */
function queryText(query: MessageContent): string {
  if (typeof query === 'string') return query;
  if (Array.isArray(query)) {
    return query
      .filter((part): part is { type: 'text'; text: string } => part !== null && typeof part === 'object' && part.type === 'text' && typeof (part as { text?: unknown }).text === 'string')
      .map((part) => part.text)
      .join('\n\n');
  }
  throw invalid('query', 'a string or MessageContentDetail[]', query);
}
