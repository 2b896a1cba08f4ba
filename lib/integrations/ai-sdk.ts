// crossrank/ai-sdk: crossrank as a Vercel AI SDK provider. `createCrossrank().reranking(id)` is a
// RerankingModelV3 (@ai-sdk/provider), which `rerank()` of ai 6 takes as is and ai 7 takes as a
// V3 model (it adapts V3 to V4 itself). The model runs in process; nothing goes over HTTP.
import {
  NoSuchModelError,
  type JSONObject,
  type ProviderV3,
  type RerankingModelV3,
  type RerankingModelV3CallOptions,
  type SharedV3ProviderMetadata,
  type SharedV3Warning,
} from '@ai-sdk/provider';
import { CrossrankError, type CrossEncoder, type LoadOptions } from 'crossrank';

import { type ForwardedRerankOptions, LazyModel, type ModelSource, checkForwarded, checkKeys, checkObject, invalid, optionalTopN, rerankWith } from './shared.js';

export type { ForwardedRerankOptions, ModelSource } from './shared.js';

/** Options of createCrossrank(). */
export interface CrossrankProviderSettings {
  /** Load options of models created by id or folder without their own (CrossEncoder.load). */
  loadOptions?: LoadOptions;
  /**
   * Turns an object document into the text that is scored. Default: JSON.stringify, as
   * @ai-sdk/cohere does, with the same 'compatibility' warning ("object documents").
   */
  documentToText?: (document: JSONObject) => string;
  /**
   * Options given to every CrossEncoder.rerank call (batchSize, activation, chunking, an
   * instruction where the model takes one...). A call's `providerOptions.crossrank` adds to them.
   */
  rerankOptions?: ForwardedRerankOptions;
}

/** A crossrank reranking model for the AI SDK (RerankingModelV3). */
export interface CrossrankRerankingModel extends RerankingModelV3 {
  /** The loaded CrossEncoder (loads it if needed). */
  model(): Promise<CrossEncoder>;
}

/**
 * The crossrank provider: `reranking(idOrDir, loadOptions)` (also `rerankingModel`, and the
 * provider itself as a function) gives a RerankingModelV3. Other model kinds throw
 * NoSuchModelError, as ProviderV3 asks, so `customProvider` and `createProviderRegistry` take it.
 */
export interface CrossrankProvider extends ProviderV3 {
  (idOrDir: ModelSource, loadOptions?: LoadOptions): CrossrankRerankingModel;
  /** A reranking model for `rerank()`: a hub id, a model folder (loaded on first use, shared) or a loaded CrossEncoder. */
  reranking(idOrDir: ModelSource, loadOptions?: LoadOptions): CrossrankRerankingModel;
  /** ProviderV3's name for reranking(idOrDir), used by provider registries (`registry.rerankingModel('crossrank:ID')`). */
  rerankingModel(idOrDir: string): CrossrankRerankingModel;
  /** Closes every model this provider loaded (not CrossEncoders passed in); their later calls reject with CLOSED. */
  close(): Promise<void>;
}

const PROVIDER = 'crossrank.reranking';
const SETTINGS_KEYS = ['loadOptions', 'documentToText', 'rerankOptions'] as const;

/**
 * Creates a crossrank provider for the AI SDK.
 *
 * ```ts
 * import { rerank } from 'ai';
 * import { createCrossrank } from 'crossrank/ai-sdk';
 * const crossrank = createCrossrank();
 * const { ranking } = await rerank({ model: crossrank.reranking('cross-encoder/ms-marco-MiniLM-L6-v2'), query, documents, topN: 5 });
 * ```
 *
 * A model given by id or folder is loaded on its first call, once, and shared by every model
 * object the provider made with the same id and load options. Scores are CrossEncoder.rerank's
 * (the model's activation: sigmoid for the ms-marco models), best first, ties by lower index.
 * `topN` keeps the best n; `abortSignal` cancels (ABORTED). Errors are crossrank's coded
 * CrossrankErrors (CLOSED, INVALID_ARGUMENT, QUEUE_FULL, ...), which the AI SDK does not retry.
 * `providerMetadata.crossrank`: model (id or folder), file (the ONNX file), device, and tokens
 * (the query-document pairs' tokens as scored, truncation included; absent with chunking).
 */
export function createCrossrank(settings: CrossrankProviderSettings = {}): CrossrankProvider {
  const s = checkObject('createCrossrank settings', settings);
  checkKeys('createCrossrank settings', s, SETTINGS_KEYS);
  if (s.documentToText !== undefined && typeof s.documentToText !== 'function') throw invalid('settings.documentToText', 'a function', s.documentToText);
  const baseOptions = checkForwarded('settings.rerankOptions', s.rerankOptions);
  const documentToText = settings.documentToText;
  const models = new Map<string, LazyModel>();

  const lazy = (source: ModelSource, loadOptions: LoadOptions | undefined): LazyModel => {
    if (typeof source !== 'string') return new LazyModel('reranking(model)', source);
    const options = loadOptions ?? settings.loadOptions;
    // onProgress is a function: models that differ only by it still share one load.
    const key = JSON.stringify([source, options === undefined ? null : Object.entries(options).filter(([k]) => k !== 'onProgress').sort()]);
    let model = models.get(key);
    if (!model) {
      model = new LazyModel('reranking(idOrDir)', source, options);
      models.set(key, model);
    }
    return model;
  };

  const reranking = (source: ModelSource, loadOptions?: LoadOptions): CrossrankRerankingModel => {
    const handle = lazy(source, loadOptions);
    return {
      specificationVersion: 'v3',
      provider: PROVIDER,
      modelId: handle.name,
      model: () => handle.get(),
      async doRerank(options: RerankingModelV3CallOptions) {
        const { documents, query, topN, abortSignal, providerOptions } = options;
        if (typeof query !== 'string') throw invalid('query', 'a string', query);
        const topK = optionalTopN('topN', topN);
        const perCall = checkForwarded('providerOptions.crossrank', providerOptions?.crossrank);
        const warnings: SharedV3Warning[] = [];
        let texts: string[];
        if (documents?.type === 'text') {
          texts = documents.values;
        } else if (documents?.type === 'object') {
          if (!documentToText) warnings.push({ type: 'compatibility', feature: 'object documents', details: 'Object documents are converted to strings.' });
          texts = documents.values.map((value, i) => {
            const text = documentToText ? documentToText(value) : JSON.stringify(value);
            if (typeof text !== 'string') throw invalid(`documentToText(documents[${i}])`, 'a string', text);
            return text;
          });
        } else {
          throw invalid('documents', "{ type: 'text' | 'object', values }", documents);
        }
        const ce = await handle.get();
        const forwarded = { ...baseOptions, ...perCall };
        // Token counts come from a second tokenization running beside the scoring.
        const chunked = (forwarded as { chunking?: unknown }).chunking !== undefined;
        const [hits, tokens] = await Promise.all([
          rerankWith(ce, query, texts, forwarded, topK, abortSignal),
          chunked || texts.length === 0 ? undefined : countTokens(ce, query, texts),
        ]);
        const info = ce.info;
        const metadata: Record<string, string | number> = {
          model: info.hub?.repo ?? info.dir,
          file: info.hub?.file ?? info.modelPath,
          device: info.device,
        };
        if (tokens !== undefined) metadata.tokens = tokens;
        const providerMetadata: SharedV3ProviderMetadata = { crossrank: metadata };
        return {
          ranking: hits.map((hit) => ({ index: hit.index, relevanceScore: hit.score })),
          providerMetadata,
          warnings,
          response: { modelId: handle.name, timestamp: new Date() },
        };
      },
    };
  };

  const noSuchModel = (modelType: 'languageModel' | 'embeddingModel' | 'imageModel') => (modelId: string): never => {
    throw new NoSuchModelError({ modelId, modelType, message: `crossrank provides reranking models only (asked for ${modelType} ${JSON.stringify(modelId)})` });
  };
  const provider = ((source: ModelSource, loadOptions?: LoadOptions) => reranking(source, loadOptions)) as CrossrankProvider;
  Object.assign(provider, {
    specificationVersion: 'v3' as const,
    reranking,
    rerankingModel: (id: string) => reranking(id),
    languageModel: noSuchModel('languageModel'),
    embeddingModel: noSuchModel('embeddingModel'),
    textEmbeddingModel: noSuchModel('embeddingModel'),
    imageModel: noSuchModel('imageModel'),
    async close() {
      const all = [...models.values()];
      models.clear();
      await Promise.all(all.map((m) => m.close()));
    },
  });
  return provider;
}

/** Tokens of the (query, document) pairs as the model sees them. */
async function countTokens(ce: CrossEncoder, query: string, texts: string[]): Promise<number> {
  try {
    const { ids } = await ce.tokenize(texts.map((t): [string, string] => [query, t]));
    return ids.reduce((n, row) => n + row.length, 0);
  } catch (error) {
    // The rerank call beside it reports the same failure with its own code.
    if (error instanceof CrossrankError) return 0;
    throw error;
  }
}
