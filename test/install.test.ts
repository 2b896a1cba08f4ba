// Installed the way users install it: crossrank and its platform packages are packed, published
// to a verdaccio on 127.0.0.1 with no uplinks (nothing reaches the public registry) together with
// crossrank's runtime dependencies (the tarballs package-lock.json pins, from npm's cache), and installed
// into fresh projects whose PATH has node, npm and sh but no cmake, cargo or C++ compiler: once
// with npm's defaults and once with --ignore-scripts (npm 12, pnpm, Yarn Berry and Bun run no
// dependency scripts). Then: rerank through import, require and `npx crossrank rerank`; the disk
// size of a CPU install; the CUDA package (on this CPU machine 'auto' falls back, and the reason
// proves its CUDA-enabled core loaded); crossrank beside transformers.js (onnxruntime-node 1.30)
// in one process, in both load orders and in a worker thread; the symbol versions of the packed
// binaries (glibc 2.28).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { modelDir } from './helpers.js';
import { runtimeDependencies } from './runtime-deps.mjs';

const root = join(__dirname, '..');
const version: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const PACKAGES = ['linux-x64-gnu', 'linux-x64-gnu-cuda', 'linux-x64-gnu-cuda-provider'];
/** What a CPU install may put on disk, all runtime dependencies included (issue 14). */
const CPU_INSTALL_LIMIT = 60e6;
/**
 * The npm registry answers 413 Payload Too Large above an undocumented size: reported for a
 * 229.9 MB tarball (npm/cli#4794) and for packages "above 200MB" (npm/documentation#1691).
 * Each tarball stays under 200 MB (decimal), the largest size reported to publish.
 */
const REGISTRY_TARBALL_LIMIT = 200e6;
/** Build tools and ONNX Runtime packages: none may be a runtime dependency (issue 14, point 2). */
const NOT_AT_RUN_TIME = /^(cmake-js|node-addon-api|com\.github\.asus4\.onnxruntime.*|onnxruntime-.+)$/;
/** An exact version (no range): what a runtime dependency of crossrank is pinned to. */
const EXACT_VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const MAX_GLIBC = [2, 28];
/** libstdc++ of GCC 7 (what ONNX Runtime 1.29 itself needs); RHEL 8 and Debian 10 ship 3.4.25. */
const MAX_GLIBCXX = [3, 4, 22];
const MAX_CXXABI = [1, 3, 11];
const QUERY = 'how do vaccines train the immune system';
const DOCS = ['Vaccines expose the immune system to a harmless piece of a pathogen.', 'The Eiffel Tower was completed in 1889.', 'Antibodies protect against later infection.'];

const work = mkdtempSync(join(tmpdir(), 'crossrank-install-'));
let registry = '';
let verdaccio: ChildProcess | undefined;
const packed: Record<string, { file: string; size: number; unpackedSize: number }> = {};
const measures: Record<string, number> = {};

/** PATH with node, npm, npx and sh only: no cmake, cargo, c++, gcc or zig. */
const bin = join(work, 'bin');
function toolFreeEnv(): NodeJS.ProcessEnv {
  // No npm_* variables from the `npm test` that runs vitest: only what a fresh shell has.
  return { PATH: bin, HOME: join(work, 'home'), npm_config_cache: join(work, 'cache'), npm_config_userconfig: join(work, 'npmrc-install'), npm_config_update_notifier: 'false' };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = toolFreeEnv(), timeout = 300_000) {
  const started = performance.now();
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout, maxBuffer: 64 * 2 ** 20 });
  return { ...r, seconds: (performance.now() - started) / 1000, output: `${r.stdout}\n${r.stderr}`.slice(-4000) };
}

/**
 * Publishes a registry tarball as `npm publish` would (the registry's CouchDB-style document:
 * the manifest under `versions`, the tarball base64 under `_attachments`), in one request
 * instead of one npm process per package. `latest` moves to each version published.
 */
/** The end of verdaccio's output, for failure messages (set once it starts). */
let verdaccioLog = (): string => '';

async function publishTarball(file: string, token: string): Promise<void> {
  const entry = spawnSync('tar', ['-tzf', file], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 })
    .stdout.split('\n')
    .find((p) => /^[^/]+\/package\.json$/.test(p));
  if (!entry) throw new Error(`${file} has no package.json`);
  const manifest = JSON.parse(spawnSync('tar', ['-xzOf', file, entry], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }).stdout);
  const { name, version } = manifest as { name: string; version: string };
  const data = readFileSync(file);
  const dist = {
    integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
    shasum: createHash('sha1').update(data).digest('hex'),
    tarball: `${registry}${name}/-/${name.replace(/^@[^/]+\//, '')}-${version}.tgz`,
  };
  const body = {
    _id: name,
    name,
    description: manifest.description ?? '',
    'dist-tags': { latest: version },
    versions: { [version]: { ...manifest, _id: `${name}@${version}`, dist } },
    _attachments: { [`${name}-${version}.tgz`]: { content_type: 'application/octet-stream', data: data.toString('base64'), length: data.length } },
  };
  const put = () =>
    fetch(`${registry}${name.replace('/', '%2f')}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  // undici reuses the keep-alive socket of the previous request; when that request was more than
  // the server's keep-alive timeout ago (npm pack of every dependency runs in between, slower on a
  // loaded machine), the server may close it as the PUT goes out: "other side closed" with nothing
  // received. The server never saw that request, so one retry on a fresh socket is safe.
  const res = await put()
    .catch((e: Error & { cause?: { code?: string } }) => {
      if (e.cause?.code === 'UND_ERR_SOCKET') return put();
      throw e;
    })
    .catch((e: Error) => {
      throw new Error(`publish ${name}@${version}: ${e.message} (${String((e as { cause?: unknown }).cause)})\n${verdaccioLog()}`);
    });
  expect(res.status, `publish ${name}@${version}: ${await res.text()}`).toBe(201);
}

/** Bytes on disk per installed package under `modules` (scoped and nested ones apart), largest first. */
function diskBreakdown(modules: string): string {
  const rows: [string, number][] = [];
  const visit = (dir: string, prefix: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (!entry.isDirectory()) {
        rows.push([`${prefix}${entry.name}`, lstatSync(path).size]);
      } else if (entry.name.startsWith('@')) {
        visit(path, `${prefix}${entry.name}/`);
      } else {
        const nested = join(path, 'node_modules');
        let bytes = diskBytes(path);
        if (existsSync(nested)) {
          bytes -= diskBytes(nested);
          visit(nested, `${prefix}${entry.name}/node_modules/`);
        }
        rows.push([`${prefix}${entry.name}`, bytes]);
      }
    }
  };
  visit(modules, '');
  return rows
    .sort((a, b) => b[1] - a[1])
    .map(([name, bytes]) => `${(bytes / 1e6).toFixed(2)} MB ${name}`)
    .join('\n');
}

/** Bytes of the files under `dir` (what the install put on disk; links are not followed). */
function diskBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += diskBytes(path);
    else total += lstatSync(path).size;
  }
  return total;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function tarball(name: string): string {
  const p = packed[name];
  if (!p) throw new Error(`${name} was not packed`);
  return p.file;
}

function newProject(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  // Scripts that use the installed package the three ways users do.
  writeFileSync(
    join(dir, 'esm.mjs'),
    `import { CrossEncoder } from 'crossrank';
const options = JSON.parse(process.argv[2] ?? '{}');
try {
  const model = await CrossEncoder.load(${JSON.stringify(modelDir('bert-tiny'))}, options);
  const hits = await model.rerank(${JSON.stringify(QUERY)}, ${JSON.stringify(DOCS)});
  console.log(JSON.stringify({ hits, info: model.info }));
  await model.close();
} catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }
`,
  );
  writeFileSync(
    join(dir, 'cjs.cjs'),
    `const { CrossEncoder } = require('crossrank');
CrossEncoder.load(${JSON.stringify(modelDir('bert-tiny'))}).then(async (model) => {
  console.log(JSON.stringify({ hits: await model.rerank(${JSON.stringify(QUERY)}, ${JSON.stringify(DOCS)}) }));
  await model.close();
});
`,
  );
  return dir;
}

function json(r: { stdout: string; output: string }): Record<string, any> {
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`not JSON: ${r.output}`);
  }
}

beforeAll(async () => {
  for (const pkg of PACKAGES) {
    const dir = join(root, 'npm', pkg);
    const files: string[] = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).files;
    for (const f of files) {
      if (!existsSync(join(dir, f))) throw new Error(`npm/${pkg}/${f} is not built: run \`npm ci\` or \`npm run build:native\``);
    }
  }
  mkdirSync(bin);
  mkdirSync(join(work, 'home'));
  const npmCli = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'bin');
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  symlinkSync(join(npmCli, 'npm-cli.js'), join(bin, 'npm'));
  symlinkSync(join(npmCli, 'npx-cli.js'), join(bin, 'npx'));

  // Pack what would be published (scripts off: `prepare` would rebuild).
  const dest = join(work, 'tarballs');
  mkdirSync(dest);
  for (const dir of [root, ...PACKAGES.map((p) => join(root, 'npm', p))]) {
    const r = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dest], dir, { ...toolFreeEnv(), PATH: `${bin}:${process.env.PATH}` });
    expect(r.status, r.output).toBe(0);
    const [info] = JSON.parse(r.stdout);
    packed[info.name] = { file: join(dest, info.filename), size: info.size, unpackedSize: info.unpackedSize };
  }

  // verdaccio on 127.0.0.1, no uplinks: every package comes from what this test published.
  const port = await freePort();
  registry = `http://127.0.0.1:${port}/`;
  const config = join(work, 'verdaccio.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(work, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(work, 'htpasswd')}`,
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      'max_body_size: 400mb',
      'web:',
      '  enable: false',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  verdaccio = spawn(process.execPath, [join(root, 'node_modules', 'verdaccio', 'bin', 'verdaccio'), '--config', config, '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH, HOME: join(work, 'home') },
  });
  let log = '';
  verdaccioLog = () => log.slice(-3000);
  verdaccio.stdout?.on('data', (d) => (log += d));
  verdaccio.stderr?.on('data', (d) => (log += d));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${registry}-/ping`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || verdaccio.exitCode !== null) throw new Error(`verdaccio did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const user = await fetch(`${registry}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', password: 'ci-password-14' }),
  });
  expect(user.status, await user.clone().text()).toBe(201);
  const { token } = (await user.json()) as { token: string };
  const host = registry.replace(/^http:/, '');
  writeFileSync(join(work, 'npmrc-publish'), `registry=${registry}\n${host}:_authToken=${token}\n`);
  writeFileSync(join(work, 'npmrc-install'), `registry=${registry}\naudit=false\nfund=false\n`);

  // crossrank's runtime dependencies (the hub client, fastify, ...): the registry has no uplink,
  // so each tarball package-lock.json pins is published to it first, taken from npm's cache
  // (`npm ci` filled it; --offline reaches no registry) and checked against the lock's integrity.
  const deps = runtimeDependencies(root);
  const integrity = new Map(deps.map((d) => [`${d.name}@${d.version}`, d.integrity]));
  const depDest = join(work, 'dependencies');
  mkdirSync(depDest);
  const depPack = run('npm', ['pack', ...integrity.keys(), '--offline', '--json', '--pack-destination', depDest], work, { ...process.env });
  expect(depPack.status, `the npm cache lacks a runtime dependency of crossrank (run \`npm ci\`): ${depPack.output}`).toBe(0);
  const depFiles: { id: string; file: string; version: string }[] = [];
  for (const info of JSON.parse(depPack.stdout) as { id: string; version: string; integrity: string; filename: string }[]) {
    expect(info.integrity, info.id).toBe(integrity.get(info.id));
    depFiles.push({ id: info.id, file: join(depDest, info.filename), version: info.version });
  }
  expect(depFiles.map((d) => d.id).sort()).toEqual([...integrity.keys()].sort());
  // Lower versions of a name first, so `latest` ends on the highest, as on the public registry.
  const numeric = (v: string) => v.split(/[.-]/).map((x) => Number(x) || 0);
  depFiles.sort((a, b) => {
    const [x, y] = [numeric(a.version), numeric(b.version)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  });
  for (const { file } of depFiles) await publishTarball(file, token);
  measures['runtime dependencies published'] = depFiles.length;

  for (const { file } of Object.values(packed)) {
    const r = run('npm', ['publish', file, '--registry', registry], work, { ...toolFreeEnv(), npm_config_userconfig: join(work, 'npmrc-publish') });
    expect(r.status, r.output + log).toBe(0);
  }
}, 600_000);

afterAll(() => {
  verdaccio?.kill();
  console.log(`crossrank install measures: ${JSON.stringify({ ...measures, tarballs: Object.fromEntries(Object.entries(packed).map(([k, v]) => [k, { size: v.size, unpackedSize: v.unpackedSize }])) })}`);
  rmSync(work, { recursive: true, force: true });
});

describe('published packages', () => {
  it('each tarball is within the registry size limit, and the main package has no install script and no build tools', () => {
    for (const [name, p] of Object.entries(packed)) expect(p.size, name).toBeLessThan(REGISTRY_TARBALL_LIMIT);
    const manifest = JSON.parse(spawnSync('tar', ['-xzOf', tarball('crossrank'), 'package/package.json'], { encoding: 'utf8' }).stdout);
    for (const script of ['preinstall', 'install', 'postinstall']) expect(manifest.scripts?.[script], script).toBeUndefined();
    // Runtime dependencies: the hub client, the CLI's progress bar and serve's libraries, each
    // pinned to one version; no build tool or ONNX Runtime package, directly or through them.
    const dependencies: Record<string, string> = manifest.dependencies ?? {};
    expect(dependencies).toEqual(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).dependencies);
    for (const [name, range] of Object.entries(dependencies)) {
      expect(name, 'a build tool or ONNX Runtime package is a runtime dependency').not.toMatch(NOT_AT_RUN_TIME);
      expect(range, `${name} is not pinned to one version`).toMatch(EXACT_VERSION);
    }
    for (const dep of runtimeDependencies(root)) expect(dep.name, `${dep.path} is in the runtime closure`).not.toMatch(NOT_AT_RUN_TIME);
    expect(manifest.optionalDependencies).toEqual({ '@crossrank/linux-x64-gnu': version });
    for (const pkg of PACKAGES) {
      const m = JSON.parse(spawnSync('tar', ['-xzOf', tarball(`@crossrank/${pkg}`), 'package/package.json'], { encoding: 'utf8' }).stdout);
      expect(m.version, pkg).toBe(version);
      expect(m.scripts, pkg).toBeUndefined();
      expect([m.os, m.cpu, m.libc], pkg).toEqual([['linux'], ['x64'], ['glibc']]);
    }
  });
});

describe.each([
  { name: 'defaults', flags: [] as string[] },
  { name: '--ignore-scripts', flags: ['--ignore-scripts'] },
])('npm install crossrank ($name), no toolchain on PATH', ({ name, flags }) => {
  let project = '';
  let expected: { index: number; score: number }[] = [];

  beforeAll(async () => {
    const probe = spawnSync('sh', ['-c', 'command -v cmake || command -v cargo || command -v c++ || command -v g++ || command -v gcc || command -v zig'], { env: toolFreeEnv(), encoding: 'utf8' });
    expect(probe.stdout.trim(), 'a build tool is on the test PATH').toBe('');
    project = newProject(name === 'defaults' ? 'app-defaults' : 'app-ignore-scripts');
    const r = run('npm', ['install', 'crossrank', ...flags], project);
    expect(r.status, r.output).toBe(0);
    // npm 11 lists every dependency whose manifest has a lifecycle script allowScripts would have
    // to approve (npm 12 blocks them): crossrank and its platform package must not be among them.
    expect(r.output).not.toMatch(/allowScripts/);
    measures[`cpu install ${name} seconds`] = Number(r.seconds.toFixed(1));
    // The reference: this repository's own build, in this process.
    const model = await CrossEncoder.load(modelDir('bert-tiny'));
    expected = (await model.rerank(QUERY, DOCS)).map((h) => ({ index: h.index, score: h.score }));
    await model.close();
  }, 300_000);

  it(`puts at most ${CPU_INSTALL_LIMIT / 1e6} MB on disk, with the CPU platform package and no build tools`, () => {
    const modules = join(project, 'node_modules');
    const bytes = diskBytes(modules);
    measures[`cpu install ${name} bytes`] = bytes;
    expect(bytes, `bytes per package:\n${diskBreakdown(modules)}`).toBeLessThanOrEqual(CPU_INSTALL_LIMIT);
    expect(existsSync(join(modules, '@crossrank', 'linux-x64-gnu', 'crossrank.node'))).toBe(true);
    for (const absent of ['@crossrank/linux-x64-gnu-cuda', 'onnxruntime-node', 'cmake-js', 'node-addon-api', 'com.github.asus4.onnxruntime']) {
      expect(existsSync(join(modules, absent)), absent).toBe(false);
    }
  });

  it('reranks through import, with the scores of the source build, from the platform package', () => {
    const out = json(run('node', ['esm.mjs'], project));
    expect(out.code, out.message).toBeUndefined();
    expect(out.info.addon).toMatch(new RegExp(`^@crossrank/linux-x64-gnu@${version.replace(/\./g, '\\.')} \\(`));
    expect(out.hits.map((h: { index: number }) => h.index)).toEqual(expected.map((h) => h.index));
    expected.forEach((h, i) => expect(out.hits[i].score).toBeCloseTo(h.score, 6));
  });

  it('reranks through require and through npx crossrank rerank', () => {
    const cjs = json(run('node', ['cjs.cjs'], project));
    expect(cjs.hits.map((h: { index: number }) => h.index)).toEqual(expected.map((h) => h.index));
    const cli = run('npx', ['crossrank', 'rerank', '--model', modelDir('bert-tiny'), '--query', QUERY, ...DOCS], project);
    expect(cli.status, cli.output).toBe(0);
    const [top] = expected;
    expect(cli.stdout).toContain(`1. ${top?.score.toFixed(4)}  [${top?.index}]`);
  });

  it("without the CUDA package: 'cuda' is CUDA_UNAVAILABLE naming it, 'auto' falls back saying so", () => {
    const cuda = json(run('node', ['esm.mjs', JSON.stringify({ device: 'cuda' })], project));
    expect(cuda.code).toBe('CUDA_UNAVAILABLE');
    expect(cuda.message).toContain('npm install @crossrank/linux-x64-gnu-cuda');
    const auto = json(run('node', ['esm.mjs', JSON.stringify({ device: 'auto' })], project));
    expect(auto.info.device).toBe('cpu');
    expect(auto.info.deviceReason).toMatch(/^auto: CUDA unavailable \(.*npm install @crossrank\/linux-x64-gnu-cuda.*\), using CPU$/);
  });
});

describe('npm install @crossrank/linux-x64-gnu-cuda (GPU opt-in)', () => {
  let project = '';

  beforeAll(() => {
    project = newProject('app-cuda');
    const r = run('npm', ['install', 'crossrank', '@crossrank/linux-x64-gnu-cuda'], project);
    expect(r.status, r.output).toBe(0);
    measures['cuda install seconds'] = Number(r.seconds.toFixed(1));
    measures['cuda install bytes'] = diskBytes(join(project, 'node_modules'));
  }, 300_000);

  it("'auto' loads the CUDA package and falls back with a reason only its CUDA-enabled core gives", () => {
    const auto = json(run('node', ['esm.mjs', JSON.stringify({ device: 'auto' })], project));
    expect(auto.code, auto.message).toBeUndefined();
    expect(auto.info.addon).toMatch(/^@crossrank\/linux-x64-gnu-cuda@/);
    expect(auto.info.device).toBe('cpu');
    // A CPU-only core stops before the provider loads ("is a CPU-only build"); the CUDA-enabled
    // core gets as far as loading the provider, which then misses the CUDA 13 libraries.
    expect(auto.info.deviceReason).toMatch(/CUDA 13 libraries.*libcu\w+\.so\.1\d/);
    expect(auto.info.deviceReason).not.toMatch(/CPU-only/);
    expect(auto.hits).toHaveLength(DOCS.length);
    const cuda = json(run('node', ['esm.mjs', JSON.stringify({ device: 'cuda' })], project));
    expect(cuda.code).toBe('CUDA_UNAVAILABLE');
    expect(cuda.message).toMatch(/CUDA 13 libraries/);
  });
});

describe('coexistence with transformers.js (onnxruntime-node 1.30) in one process', () => {
  let project = '';
  const transformers = pathToFileURL(join(root, 'node_modules', '@huggingface', 'transformers', 'dist', 'transformers.node.mjs')).href;

  beforeAll(() => {
    project = newProject('app-coexist');
    const r = run('npm', ['install', 'crossrank'], project);
    expect(r.status, r.output).toBe(0);
    // transformers.js reads <localModelPath>/<id>/onnx/model.onnx.
    const tdir = join(work, 'tjs-models', 'bert-tiny');
    cpSync(modelDir('bert-tiny'), tdir, { recursive: true });
    mkdirSync(join(tdir, 'onnx'));
    cpSync(join(tdir, 'model.onnx'), join(tdir, 'onnx', 'model.onnx'));
    const common = `
import { CrossEncoder } from 'crossrank';
const tjsModels = ${JSON.stringify(join(work, 'tjs-models'))};
export async function viaCrossrank() {
  const model = await CrossEncoder.load(${JSON.stringify(modelDir('bert-tiny'))}, { activation: 'identity' });
  const [score] = await model.predict([['a query', 'a document']]);
  await model.close();
  return score;
}
export async function viaTransformers() {
  const { env, AutoModelForSequenceClassification, AutoTokenizer } = await import(${JSON.stringify(transformers)});
  env.allowRemoteModels = false;
  env.localModelPath = tjsModels;
  const tokenizer = await AutoTokenizer.from_pretrained('bert-tiny');
  const model = await AutoModelForSequenceClassification.from_pretrained('bert-tiny', { dtype: 'fp32', device: 'cpu' });
  const { logits } = await model(tokenizer('a query', { text_pair: 'a document' }));
  return logits.data[0];
}
`;
    writeFileSync(join(project, 'common.mjs'), common);
    writeFileSync(join(project, 'crossrank-first.mjs'), `import { viaCrossrank, viaTransformers } from './common.mjs';\nconst c = await viaCrossrank(); const t = await viaTransformers();\nconsole.log(JSON.stringify({ c, t }));\n`);
    writeFileSync(join(project, 'transformers-first.mjs'), `import { viaCrossrank, viaTransformers } from './common.mjs';\nconst t = await viaTransformers(); const c = await viaCrossrank();\nconsole.log(JSON.stringify({ c, t }));\n`);
    writeFileSync(
      join(project, 'workers.mjs'),
      `import { Worker } from 'node:worker_threads';
import { viaTransformers } from './common.mjs';
const inWorker = (fn) => new Promise((resolve, reject) => {
  const w = new Worker(\`import('./common.mjs').then(async (m) => require('node:worker_threads').parentPort.postMessage(await m[\${JSON.stringify(fn)}]()))\`, { eval: true });
  w.once('message', resolve); w.once('error', reject);
});
// transformers.js on the main thread, crossrank in two workers, then transformers.js in a worker.
const t = await viaTransformers();
const [c1, c2] = await Promise.all([inWorker('viaCrossrank'), inWorker('viaCrossrank')]);
const t2 = await inWorker('viaTransformers');
console.log(JSON.stringify({ c: c1, c2, t, t2 }));
`,
    );
  }, 300_000);

  it.each(['crossrank-first.mjs', 'transformers-first.mjs', 'workers.mjs'])('%s: both score the same model alike', (script) => {
    const r = run('node', [script], project);
    expect(r.status, r.output).toBe(0);
    const out = json(r);
    // Same model, same pair: crossrank's raw logit and transformers.js's agree.
    expect(Number.isFinite(out.c)).toBe(true);
    expect(out.c).toBeCloseTo(out.t, 4);
    if (out.c2 !== undefined) expect(out.c2).toBeCloseTo(out.t, 4);
    if (out.t2 !== undefined) expect(out.t2).toBeCloseTo(out.t, 6);
  });
});

/** Highest version of `prefix`_x.y.z the ELF file's dynamic symbols need, e.g. [2, 28]; [] when none. */
function maxVersion(file: string, prefix: string): number[] {
  const r = spawnSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  expect(r.status, r.stderr).toBe(0);
  const versions = [...r.stdout.matchAll(new RegExp(`\\b${prefix}_([0-9.]+)\\b`, 'g'))].map((m) => (m[1] ?? '').split('.').map(Number));
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.max(a.length, b.length); i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  };
  return versions.sort(cmp).pop() ?? [];
}
/** v <= max, version by version; true for [] (the file needs none). */
function atMost(v: number[], max: number[]): boolean {
  for (let i = 0; i < Math.max(v.length, max.length); i++) if ((v[i] ?? 0) !== (max[i] ?? 0)) return (v[i] ?? 0) < (max[i] ?? 0);
  return true;
}

describe('packed binaries run on glibc 2.28 (RHEL 8, Debian 10+, Ubuntu 20.04+)', () => {
  it.each(PACKAGES)('@crossrank/%s: GLIBC <= 2.28, GLIBCXX <= 3.4.22, the addon without libstdc++', (pkg) => {
    const dir = join(work, 'unpacked', pkg);
    mkdirSync(dir, { recursive: true });
    expect(spawnSync('tar', ['-xzf', tarball(`@crossrank/${pkg}`), '-C', dir]).status).toBe(0);
    for (const file of readdirSync(join(dir, 'package')).filter((f) => /\.(node|so)(\.\d+)?$/.test(f))) {
      const path = join(dir, 'package', file);
      const glibc = maxVersion(path, 'GLIBC');
      measures[`${pkg}/${file} GLIBC`] = Number(glibc.join('.')) || 0;
      expect(atMost(glibc, MAX_GLIBC), `${file} needs GLIBC_${glibc.join('.')}`).toBe(true);
      const glibcxx = maxVersion(path, 'GLIBCXX');
      expect(atMost(glibcxx, MAX_GLIBCXX), `${file} needs GLIBCXX_${glibcxx.join('.')}`).toBe(true);
      expect(atMost(maxVersion(path, 'CXXABI'), MAX_CXXABI), file).toBe(true);
      if (file === 'crossrank.node') {
        // libc++ is linked in: the addon needs no libstdc++ at all, and ONNX Runtime under crossrank's own name.
        expect(glibcxx).toEqual([]);
        const needed = spawnSync('readelf', ['-d', path], { encoding: 'utf8' }).stdout;
        expect(needed).not.toMatch(/NEEDED.*libstdc\+\+/);
        expect(needed).toMatch(/NEEDED.*\[libcrossrank_onnxruntime\.so\.1\]/);
        expect(needed).not.toMatch(/NEEDED.*\[libonnxruntime\.so/);
        // A symbol linked without a version would be bound to whatever the host's glibc has: only
        // Node-API's (from node itself) and weak ones (Rust's std checks for gettid at run time).
        const table = spawnSync('objdump', ['-T', path], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }).stdout;
        const unversioned = table
          .split('\n')
          .filter((line) => line.includes('*UND*') && !line.includes('('))
          .filter((line) => !/^\S+\s+w\s/.test(line))
          .map((line) => line.trim().split(/\s+/).pop())
          .filter((name) => !/^(napi|node_api)_/.test(name ?? ''));
        expect(unversioned).toEqual([]);
      }
      if (file === 'libcrossrank_onnxruntime.so.1') {
        expect(spawnSync('readelf', ['-d', path], { encoding: 'utf8' }).stdout).toMatch(/SONAME.*\[libcrossrank_onnxruntime\.so\.1\]/);
      }
    }
  });
});
