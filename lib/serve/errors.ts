// HTTP errors of `crossrank serve`, in text-embeddings-inference's shape: a status, a body
// `{error, error_type}` with TEI's ErrorType names (router/src/lib.rs: Unhealthy, Backend,
// Overloaded, Validation, Tokenizer, Empty) and the te_request_failure reason it counts as.
import { CrossrankError } from '../errors.js';
import type { FailureReason } from './metrics.js';

/** TEI's ErrorType, serialized as TEI serializes it (its OpenAPI enum). */
export type ErrorType = 'Unhealthy' | 'Backend' | 'Overloaded' | 'Validation' | 'Tokenizer' | 'Empty' | 'Unauthorized';

/**
 * An HTTP error answer: the status, TEI's error_type, the message (the body's `error`), the
 * te_request_failure reason it counts as, and extra headers (Retry-After on 429).
 */
export class HttpError extends Error {
  constructor(
    /** The HTTP status (400, 401, 404, 413, 422, 424, 429, 499, 500, 503). */
    readonly status: number,
    /** TEI's ErrorType, the body's `error_type`. */
    readonly errorType: ErrorType,
    message: string,
    /** The `err` label of te_request_failure. */
    readonly reason: FailureReason,
    /** Headers sent with the answer (e.g. `retry-after`). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Why a library call ended early, decided by who aborted it. */
export interface AbortCause {
  timedOut: boolean;
  clientGone: boolean;
  shuttingDown: boolean;
}

/**
 * Maps a library error to TEI's status table (router/src/http/server.rs `From<&ErrorType> for
 * StatusCode`): overloaded 429, tokenizer 422, backend 424. ABORTED is a timeout (503), a client
 * that went away (499, never read) or a shutdown past its grace (503).
 */
export function fromLibrary(error: unknown, cause: AbortCause, timeoutMs: number): HttpError {
  if (error instanceof HttpError) return error;
  if (!(error instanceof CrossrankError)) {
    return new HttpError(500, 'Backend', `internal error: ${(error as Error)?.message ?? String(error)}`, 'inference');
  }
  switch (error.code) {
    case 'QUEUE_FULL':
      return new HttpError(429, 'Overloaded', `Model is overloaded: ${error.message}`, 'overloaded', { 'retry-after': '1' });
    case 'ABORTED':
      if (cause.timedOut) return new HttpError(503, 'Unhealthy', `request timed out after ${timeoutMs} ms (--request-timeout)`, 'timeout');
      if (cause.shuttingDown) return new HttpError(503, 'Unhealthy', 'the server is shutting down', 'closed');
      return new HttpError(499, 'Validation', 'client closed the request', 'cancelled');
    case 'CLOSED':
      return new HttpError(503, 'Unhealthy', 'the model is closed (server shutting down)', 'closed');
    case 'TOKENIZER_ERROR':
      return new HttpError(422, 'Tokenizer', error.message, 'tokenization');
    case 'INVALID_ARGUMENT':
      return new HttpError(422, 'Validation', error.message, 'validation');
    case 'INFERENCE_FAILED':
    case 'INVALID_MODEL':
    case 'OUT_OF_MEMORY':
    case 'CUDA_UNAVAILABLE':
      return new HttpError(424, 'Backend', error.message, 'inference');
    default:
      return new HttpError(500, 'Backend', `${error.code}: ${error.message}`, 'inference');
  }
}
