// Request bodies as the original APIs document them (JSON Schema, validated by Ajv without type
// coercion). Sources: TEI docs/openapi.json (RerankRequest, PredictRequest, TruncationDirection);
// Cohere's API reference and SDK types (v1 RerankRequest, v2 V2RerankRequest); Jina's rerank API
// (model, query, documents, top_n, return_documents). Unknown fields are ignored, as serde and the
// hosted APIs do. `model` is optional everywhere and picks one of the served models.

const truncationDirection = { type: 'string', enum: ['left', 'right', 'Left', 'Right'] } as const;

export interface TeiRerankRequest {
  query: string;
  texts: string[];
  truncate?: boolean | null;
  truncation_direction?: string;
  raw_scores?: boolean;
  return_text?: boolean;
  model?: string;
  /** crossrank: an LLM reranker's instruction for this request (PredictOptions.instruction). */
  instruction?: string | null;
}

export const teiRerankBody = {
  type: 'object',
  required: ['query', 'texts'],
  properties: {
    query: { type: 'string' },
    texts: { type: 'array', items: { type: 'string' } },
    truncate: { type: ['boolean', 'null'] },
    truncation_direction: truncationDirection,
    raw_scores: { type: 'boolean' },
    return_text: { type: 'boolean' },
    model: { type: 'string' },
    instruction: { type: ['string', 'null'] },
  },
} as const;

export interface PredictRequest {
  inputs: string | string[] | string[][];
  truncate?: boolean | null;
  truncation_direction?: string;
  raw_scores?: boolean;
  model?: string;
}

/** TEI's PredictInput: a string, a pair [a, b], or a batch of [a] / [a, b]. */
export const predictBody = {
  type: 'object',
  required: ['inputs'],
  properties: {
    inputs: {
      oneOf: [
        { type: 'string' },
        { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 2 },
        { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 2 } },
      ],
    },
    truncate: { type: ['boolean', 'null'] },
    truncation_direction: truncationDirection,
    raw_scores: { type: 'boolean' },
    model: { type: 'string' },
  },
} as const;

export interface CohereV2Request {
  model?: string;
  query: string;
  documents: string[];
  top_n?: number;
  max_tokens_per_doc?: number;
  /** crossrank: an LLM reranker's instruction for this request. */
  instruction?: string | null;
}

export const cohereV2Body = {
  type: 'object',
  required: ['query', 'documents'],
  properties: {
    model: { type: 'string' },
    query: { type: 'string' },
    documents: { type: 'array', items: { type: 'string' } },
    top_n: { type: 'integer', minimum: 1 },
    max_tokens_per_doc: { type: 'integer', minimum: 1 },
    priority: { type: 'integer' },
    instruction: { type: ['string', 'null'] },
  },
} as const;

/** Cohere v1 and Jina: documents as strings or objects (Cohere: any string fields, ranked by `text` or rank_fields; Jina: `{text}`). */
export interface CohereV1Request {
  model?: string;
  query: string;
  documents: Array<string | Record<string, unknown>>;
  top_n?: number;
  return_documents?: boolean;
  rank_fields?: string[];
  max_chunks_per_doc?: number;
  max_tokens_per_doc?: number;
  /** crossrank: an LLM reranker's instruction for this request. */
  instruction?: string | null;
}

export const cohereV1Body = {
  type: 'object',
  required: ['query', 'documents'],
  properties: {
    model: { type: 'string' },
    query: { type: 'string' },
    documents: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'object' }] } },
    top_n: { type: 'integer', minimum: 1 },
    return_documents: { type: 'boolean' },
    rank_fields: { type: 'array', items: { type: 'string' } },
    max_chunks_per_doc: { type: 'integer', minimum: 1 },
    max_tokens_per_doc: { type: 'integer', minimum: 1 },
    instruction: { type: ['string', 'null'] },
  },
} as const;
