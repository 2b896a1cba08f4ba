// Request bodies as the original APIs document them (JSON Schema, validated by Ajv without type
// coercion). Sources: TEI docs/openapi.json (RerankRequest, PredictRequest, TruncationDirection);
// Cohere's API reference and SDK types (v1 RerankRequest, v2 V2RerankRequest); Jina's rerank API
// (model, query, documents, top_n, return_documents). Unknown fields are ignored, as serde and the
// hosted APIs do. `model` is optional everywhere and picks one of the served models.

//
// Optional fields accept null as absent (orNull): the official clients send it (LangChain.js's
// CohereRerank sends "max_chunks_per_doc": null through cohere-ai), and the original servers take
// it (TEI's serde Option<T>, Cohere's and Jina's nullable fields). Required fields still refuse
// null with 422. Handlers read bodies through withoutNulls(), so null and absent are one case.

/** An optional field's schema that also takes null: `type` gains 'null', an `enum` gains null. */
function orNull<S extends { type: string; enum?: readonly unknown[] }>(schema: S): Omit<S, 'type' | 'enum'> & { type: [S['type'], 'null'] } {
  const out: Record<string, unknown> = { ...schema, type: [schema.type, 'null'] };
  if (schema.enum) out.enum = [...schema.enum, null];
  return out as Omit<S, 'type' | 'enum'> & { type: [S['type'], 'null'] };
}

/**
 * A validated body with its null-valued top-level fields removed: after validation only optional
 * fields can be null, and null means absent for them. A shallow copy; the request is untouched.
 */
export function withoutNulls<T extends object>(body: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) if (value !== null) out[key] = value;
  return out as T;
}

const truncationDirection = orNull({ type: 'string', enum: ['left', 'right', 'Left', 'Right'] });

export interface TeiRerankRequest {
  query: string;
  texts: string[];
  truncate?: boolean;
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
    truncate: orNull({ type: 'boolean' }),
    truncation_direction: truncationDirection,
    raw_scores: orNull({ type: 'boolean' }),
    return_text: orNull({ type: 'boolean' }),
    model: orNull({ type: 'string' }),
    instruction: orNull({ type: 'string' }),
  },
} as const;

export interface PredictRequest {
  inputs: string | string[] | string[][];
  truncate?: boolean;
  truncation_direction?: string;
  raw_scores?: boolean;
  model?: string;
  /** crossrank: an LLM reranker's instruction for this request. */
  instruction?: string | null;
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
    truncate: orNull({ type: 'boolean' }),
    truncation_direction: truncationDirection,
    raw_scores: orNull({ type: 'boolean' }),
    model: orNull({ type: 'string' }),
    instruction: orNull({ type: 'string' }),
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
    model: orNull({ type: 'string' }),
    query: { type: 'string' },
    documents: { type: 'array', items: { type: 'string' } },
    top_n: orNull({ type: 'integer', minimum: 1 }),
    max_tokens_per_doc: orNull({ type: 'integer', minimum: 1 }),
    priority: orNull({ type: 'integer' }),
    instruction: orNull({ type: 'string' }),
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
  /** crossrank: an LLM reranker's instruction for this request. */
  instruction?: string | null;
}

export const cohereV1Body = {
  type: 'object',
  required: ['query', 'documents'],
  properties: {
    model: orNull({ type: 'string' }),
    query: { type: 'string' },
    documents: { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'object' }] } },
    top_n: orNull({ type: 'integer', minimum: 1 }),
    return_documents: orNull({ type: 'boolean' }),
    rank_fields: orNull({ type: 'array', items: { type: 'string' } }),
    max_chunks_per_doc: orNull({ type: 'integer', minimum: 1 }),
    max_tokens_per_doc: orNull({ type: 'integer', minimum: 1 }),
    instruction: orNull({ type: 'string' }),
  },
} as const;
