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
  },
} as const;

/** Cohere v1 and Jina: documents as strings or objects (Cohere: any string fields, ranked by `text` or rank_fields; Jina: `{text}`). */
export interface CohereV1Request {
  /** Which served model answers (by name or alias); a `rerank-*` name marks a Cohere request. */
  model?: string;
  /** The search query. */
  query: string;
  /** The documents to rank: strings, or objects (Cohere: ranked by `text` or rank_fields; Jina: `{text}`). */
  documents: Array<string | Record<string, unknown>>;
  /** Return only the best top_n results (default: all). */
  top_n?: number;
  /** Include each document in its result (Cohere's default false, Jina's true). */
  return_documents?: boolean;
  /** Cohere: the object fields to rank by, joined as `field: value` lines (default `text`). */
  rank_fields?: string[];
  /** Cohere: accepted for compatibility; a Cohere-only field that marks the request as Cohere's. */
  max_chunks_per_doc?: number;
  /** Cohere: accepted when at least the model's max length (crossrank always truncates to it); else 422. */
  max_tokens_per_doc?: number;
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
  },
} as const;
