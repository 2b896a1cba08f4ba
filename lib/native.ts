// Finds and loads the native addon, and types its surface. The one place that knows where the
// binary lives: CROSSRANK_ADDON, a source build (build/Release), or the prebuilt platform package
// (@crossrank/linux-x64-gnu, or @crossrank/linux-x64-gnu-cuda when installed), as sharp, esbuild
// and @napi-rs packages do: no install script, one optional dependency per platform.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { NativeBinding } from './types.js';
import { CrossrankError } from './errors.js';

/** Where the loaded addon came from (ModelInfo.addon). */
export interface AddonSource {
  /** 'env': CROSSRANK_ADDON; 'source': a source build in build/Release; 'package': a platform package. */
  kind: 'env' | 'source' | 'package';
  /** The crossrank.node file. */
  path: string;
  /** name@version of the platform package, for kind 'package'. */
  package?: string;
}

/** Prebuilt packages by platform key (see platformKey). `cuda`: opt-in, used instead of `cpu` when installed. */
const PLATFORM_PACKAGES: Record<string, { cpu: string; cuda?: string; cudaProvider?: string }> = {
  'linux-x64-gnu': {
    cpu: '@crossrank/linux-x64-gnu',
    cuda: '@crossrank/linux-x64-gnu-cuda',
    cudaProvider: '@crossrank/linux-x64-gnu-cuda-provider',
  },
};

let binding: NativeBinding | undefined;
let source: AddonSource | undefined;

let root: string | undefined;
/**
 * Folder of the package: the nearest folder above this module whose package.json is crossrank's.
 * Modules sit at different depths (lib/ and lib/serve/ under vitest, dist/ and dist/serve/ built,
 * where the `crossrank/serve` entry got dist/ and so no version), so the depth is not assumed.
 */
export function packageRoot(): string {
  if (root !== undefined) return root;
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    try {
      if ((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name === 'crossrank') return (root = dir);
    } catch {
      // no package.json here (or not JSON): keep climbing
    }
    if (dirname(dir) === dir) return (root = resolve(here, '..'));
  }
}

/** crossrank's own version (its package.json): a platform package must have exactly this one; `crossrank --version` prints it. */
export function ownVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

let key: string | undefined;
/** e.g. 'linux-x64-gnu', 'linux-x64-musl', 'darwin-arm64', 'win32-x64': the platform package suffix. */
export function platformKey(): string {
  key ??= detectPlatformKey();
  return key;
}

function detectPlatformKey(): string {
  const base = `${process.platform}-${process.arch}`;
  if (process.platform !== 'linux') return base;
  // glibc's version is in the report header only on glibc systems (what detect-libc reads too).
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return `${base}-${header?.glibcVersionRuntime ? 'gnu' : 'musl'}`;
}

/** Folder of an installed package seen from `from` (crossrank's folder by default); undefined if absent. */
function packageDir(name: string, from = packageRoot()): string | undefined {
  try {
    return dirname(createRequire(join(from, 'package.json')).resolve(`${name}/package.json`));
  } catch {
    return undefined;
  }
}

/** The source build's addon (build/Release), whether built or not. */
export function sourceBuildPath(): string {
  return join(packageRoot(), 'build', 'Release', 'crossrank.node');
}

/** What to do when no addon loads on this platform, one line each. */
function remedies(key: string): string {
  const known = PLATFORM_PACKAGES[key];
  const build =
    'build from source: `npx crossrank build` (or CROSSRANK_BUILD_FROM_SOURCE=1), with cmake, cargo, a C++17 compiler and ' +
    '`npm install --save-dev cmake-js@8 node-addon-api@8 com.github.asus4.onnxruntime@0.4.9` (or ONNXRUNTIME_ROOT)';
  if (!known) {
    return `crossrank has no prebuilt addon for ${key} (prebuilt: ${Object.keys(PLATFORM_PACKAGES).join(', ')}); ${build}`;
  }
  const [os, cpu, libc] = key.split('-');
  return [
    `install the prebuilt addon: \`npm install crossrank\` with optional dependencies (not --omit=optional / --no-optional), which adds ${known.cpu}`,
    `node_modules installed on another platform (e.g. macOS, then copied into a Linux image): \`npm install --os=${os} --cpu=${cpu}${libc ? ` --libc=${libc === 'gnu' ? 'glibc' : libc}` : ''}\` where it was installed, or install inside the image`,
    build,
  ]
    .map((line) => `  - ${line}`)
    .join('\n');
}

/** Runs native/build.mjs in a child process (CROSSRANK_BUILD_FROM_SOURCE=1); its output goes to stderr. */
function buildFromSource(): void {
  const run = spawnSync(process.execPath, [join(packageRoot(), 'native', 'build.mjs')], { stdio: ['ignore', 2, 2], cwd: process.cwd() });
  if (run.status !== 0) {
    throw new CrossrankError('NATIVE_UNAVAILABLE', `CROSSRANK_BUILD_FROM_SOURCE=1: the source build failed (exit ${run.status}; its output is above)`);
  }
}

/** The platform package to load, checked against crossrank's version; undefined when none is installed. */
function platformPackage(key: string): AddonSource | undefined {
  const known = PLATFORM_PACKAGES[key];
  if (!known) return undefined;
  for (const name of [known.cuda, known.cpu]) {
    if (!name) continue;
    const dir = packageDir(name);
    if (!dir) continue;
    const version = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    const wanted = ownVersion();
    if (version !== wanted) {
      // A mismatched addon may not match lib/'s calls: refuse it rather than crash later.
      throw new CrossrankError(
        'NATIVE_UNAVAILABLE',
        `${name}@${version} is installed (${dir}) but crossrank is ${wanted}: the platform package must have the same version; ` +
          `run \`npm install crossrank@${wanted} ${name}@${wanted}\``,
      );
    }
    return { kind: 'package', path: join(dir, 'crossrank.node'), package: `${name}@${version}` };
  }
  return undefined;
}

/**
 * Which addon to load, in order: CROSSRANK_ADDON (a path); a source build in build/Release
 * (CROSSRANK_BUILD_FROM_SOURCE=1 builds it first if missing, and skips the prebuilt packages);
 * the platform package, its CUDA variant first when installed. Throws NATIVE_UNAVAILABLE with
 * what to do when there is none.
 */
export function findAddon(): AddonSource {
  const fromEnv = process.env.CROSSRANK_ADDON;
  if (fromEnv) return { kind: 'env', path: fromEnv };
  const local = sourceBuildPath();
  if (process.env.CROSSRANK_BUILD_FROM_SOURCE === '1' && !existsSync(local)) buildFromSource();
  if (existsSync(local)) return { kind: 'source', path: local };
  const platform = platformKey();
  const pkg = platformPackage(platform);
  if (pkg) return pkg;
  throw new CrossrankError(
    'NATIVE_UNAVAILABLE',
    `no crossrank native addon for ${platform}: no source build (${local}) and no platform package installed. To fix:\n${remedies(platform)}`,
  );
}

/** Path of the addon that native() loads (or has loaded). */
export function addonPath(): string {
  return source?.path ?? findAddon().path;
}

/** Where the loaded addon came from; undefined before the first native(). */
export function addonSource(): AddonSource | undefined {
  return source;
}

/** ModelInfo.addon: 'name@version (path)', 'source build (path)' or 'CROSSRANK_ADDON (path)'. */
export function describeAddon(from: AddonSource): string {
  if (from.kind === 'package') return `${from.package} (${from.path})`;
  return `${from.kind === 'env' ? 'CROSSRANK_ADDON' : 'source build'} (${from.path})`;
}

/**
 * The CUDA plugin execution provider: CROSSRANK_CUDA_PROVIDER, else the CUDA platform package's
 * provider (@crossrank/linux-x64-gnu-cuda-provider, a dependency of @crossrank/linux-x64-gnu-cuda),
 * else the dev dependency com.github.asus4.onnxruntime.linux-x64-gpu (this repository's source
 * build); '' when none is there.
 */
export function cudaProviderPath(): string {
  const fromEnv = process.env.CROSSRANK_CUDA_PROVIDER;
  if (fromEnv) return fromEnv;
  const known = PLATFORM_PACKAGES[platformKey()];
  const candidates: string[] = [];
  if (known?.cuda && known.cudaProvider) {
    // Resolved from the CUDA package's folder: npm may nest its dependency there.
    const cudaDir = packageDir(known.cuda);
    const dir = cudaDir ? packageDir(known.cudaProvider, cudaDir) : packageDir(known.cudaProvider);
    if (dir) candidates.push(join(dir, 'libonnxruntime_providers_cuda.so'));
  }
  const dev = packageDir('com.github.asus4.onnxruntime.linux-x64-gpu');
  if (dev) candidates.push(join(dev, 'Plugins', 'Linux', 'x64', 'libonnxruntime_providers_cuda.so'));
  return candidates.find((path) => existsSync(path)) ?? '';
}

/** The CUDA package to name in messages for this platform ('' where there is none). */
export function cudaPackageName(): string {
  return PLATFORM_PACKAGES[platformKey()]?.cuda ?? '';
}

/** Loads the addon once per process (see findAddon for the order). */
export function native(): NativeBinding {
  if (binding) return binding;
  const from = findAddon();
  if (!existsSync(from.path)) {
    throw new CrossrankError('NATIVE_UNAVAILABLE', `the crossrank native addon ${from.path} does not exist (${describeAddon(from)})`);
  }
  try {
    binding = createRequire(import.meta.url)(from.path) as NativeBinding;
  } catch (error) {
    throw new CrossrankError('NATIVE_UNAVAILABLE', `cannot load the native addon ${describeAddon(from)}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  source = from;
  return binding;
}
