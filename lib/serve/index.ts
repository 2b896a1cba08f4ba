// `crossrank/serve`: the HTTP service as a library (createServer, or the fastify plugin to mount
// in an existing app). Its own entry point, so `import 'crossrank'` does not load fastify.
/**
 * `crossrank/serve`: the reranking HTTP service (TEI, Cohere and Jina routes) as a library:
 * `createServer` for a whole server, `crossrankPlugin` to mount in a fastify app, and the
 * `crossrank serve` command's argument parsing. Routes and statuses: docs/serve.md.
 *
 * @packageDocumentation
 * @module crossrank/serve
 */
export { createServer, crossrankPlugin, v1Flavour } from './server.js';
export type { CrossrankServer, DrainOptions, ServeOptions, ServePhase, ServedModel } from './server.js';
export type { CohereV1Request } from './schemas.js';
export { HttpError } from './errors.js';
export type { ErrorType } from './errors.js';
export { createMetrics } from './metrics.js';
export type { FailureReason, ServeMetrics } from './metrics.js';
export { parseServeArgs, serveMain, SERVE_USAGE } from './cli.js';
export type { ServeConfig } from './cli.js';
