/** One installed copy of a runtime dependency (see runtime-deps.mjs). */
export interface RuntimeDependency {
  /** The package-lock.json key, relative to the repository, e.g. `node_modules/fastify`. */
  path: string;
  name: string;
  version: string;
  /** The lock's subresource integrity string of the registry tarball, when the lock has one. */
  integrity: string | undefined;
}
/** crossrank's runtime dependency closure from `root`/package-lock.json (see runtime-deps.mjs). */
export function runtimeDependencies(root: string): RuntimeDependency[];
