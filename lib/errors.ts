/** Stable error codes. Match on `error.code`, never on the message. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'MODEL_NOT_FOUND'
  | 'INVALID_MODEL'
  /**
   * A valid model folder that crossrank cannot score as sentence-transformers 6.2 does (an unknown
   * architecture family, a causal language model that is no known reranker, an encoder without a
   * sequence-classification head): refused rather than scored wrong (lib/model/families.ts modelKind).
   */
  | 'UNSUPPORTED_MODEL'
  | 'TOKENIZER_ERROR'
  | 'INFERENCE_FAILED'
  | 'CLOSED'
  | 'ABORTED'
  | 'QUEUE_FULL'
  | 'CUDA_UNAVAILABLE'
  | 'OUT_OF_MEMORY'
  | 'NATIVE_UNAVAILABLE'
  | 'INTERNAL'
  // Loading by hub id (lib/hub): each says what to do.
  | 'HUB_AUTH_REQUIRED'
  | 'HUB_ACCESS_DENIED'
  | 'HUB_OFFLINE'
  | 'HUB_UNREACHABLE'
  | 'DOWNLOAD_INCOMPLETE'
  | 'CACHE_NOT_WRITABLE';

const KNOWN_CODES = new Set<string>([
  'INVALID_ARGUMENT', 'MODEL_NOT_FOUND', 'INVALID_MODEL', 'UNSUPPORTED_MODEL', 'TOKENIZER_ERROR', 'INFERENCE_FAILED', 'CLOSED',
  'ABORTED', 'QUEUE_FULL', 'CUDA_UNAVAILABLE', 'OUT_OF_MEMORY', 'NATIVE_UNAVAILABLE', 'INTERNAL',
  'HUB_AUTH_REQUIRED', 'HUB_ACCESS_DENIED', 'HUB_OFFLINE', 'HUB_UNREACHABLE', 'DOWNLOAD_INCOMPLETE', 'CACHE_NOT_WRITABLE',
]);

/** The one error class crossrank throws or rejects with. */
export class CrossrankError extends Error {
  /** What failed, stable across versions: match on it, never on the message. */
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CrossrankError';
    this.code = code;
  }
}

/** Turns whatever the addon threw (a coded native Error) into a CrossrankError. */
export function fromNative(error: unknown): CrossrankError {
  if (error instanceof CrossrankError) return error;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    if (typeof code === 'string' && KNOWN_CODES.has(code)) {
      return new CrossrankError(code as ErrorCode, error.message);
    }
    return new CrossrankError('INTERNAL', error.message, { cause: error });
  }
  return new CrossrankError('INTERNAL', String(error));
}
