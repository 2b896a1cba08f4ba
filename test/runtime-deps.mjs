// crossrank's runtime dependency closure, read from package-lock.json. Used where crossrank is
// laid out or published outside this repository (the install test's registry, the fake installs
// of the package test, the GPU bundle), so that each carries what `npm install crossrank` fetches.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The packages `npm install crossrank` installs besides crossrank and its platform packages, as
 * npm laid them out in this repository: every package reachable from the root's `dependencies`
 * through each package's `dependencies`, `optionalDependencies` and non-optional
 * `peerDependencies`, each name resolved the way Node resolves it (the nearest `node_modules`
 * first, then the parents'). Optional and peer names that are not installed are skipped.
 *
 * @param {string} root the repository (holds package-lock.json, lockfileVersion 2 or 3)
 * @returns {{ path: string, name: string, version: string, integrity: string | undefined }[]}
 *   one per installed copy, sorted by path; `path` is the lock key, e.g. `node_modules/fastify`
 *   or `node_modules/pino/node_modules/sonic-boom` (relative to `root`)
 * @throws Error when a required dependency is missing from the lock, or the lock marks a
 *   reached package as dev-only (the lock and package.json disagree: run `npm install`)
 */
export function runtimeDependencies(root) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  /** @type {Record<string, any>} */
  const packages = lock.packages ?? {};
  const found = new Map();
  /** @param {string} from lock key of the requiring package ('' for the root) */
  const resolve = (from, name) => {
    for (let dir = from; ; ) {
      const key = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (packages[key]) return key;
      if (!dir) return undefined;
      const cut = dir.lastIndexOf('/node_modules/');
      dir = cut < 0 ? '' : dir.slice(0, cut);
    }
  };
  /** @param {string} from @param {Record<string, string> | undefined} deps @param {(name: string) => boolean} required */
  const visit = (from, deps, required) => {
    for (const name of Object.keys(deps ?? {})) {
      const key = resolve(from, name);
      if (!key) {
        if (required(name)) throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}: run \`npm install\``);
        continue;
      }
      if (found.has(key)) continue;
      const entry = packages[key];
      if (entry.dev) throw new Error(`package-lock.json marks ${key} dev-only, but ${from || 'the root'} needs it at run time: run \`npm install\``);
      found.set(key, { path: key, name: entry.name ?? key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length), version: entry.version, integrity: entry.integrity });
      walk(key);
    }
  };
  /** @param {string} key */
  const walk = (key) => {
    const entry = packages[key] ?? {};
    visit(key, entry.dependencies, () => true);
    visit(key, entry.optionalDependencies, () => false);
    visit(key, entry.peerDependencies, (name) => !entry.peerDependenciesMeta?.[name]?.optional);
  };
  visit('', packages['']?.dependencies, () => true);
  return [...found.values()].sort((a, b) => a.path.localeCompare(b.path));
}
