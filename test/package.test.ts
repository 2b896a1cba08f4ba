// The published shapes: ESM and CommonJS entry points with types, the CLI, and the build
// script's toolchain check.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { modelDir } from './helpers.js';
import { runtimeDependencies } from './runtime-deps.mjs';

const root = join(__dirname, '..');
const dist = join(root, 'dist');

describe('package entry points (built by `npm ci` through the prepare script)', () => {
  it('ships ESM, CommonJS and both declaration files', () => {
    for (const f of ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts', 'cli.js']) {
      expect(existsSync(join(dist, f)), f).toBe(true);
    }
  });

  it('require() of the CommonJS build scores pairs', async () => {
    const cjs = createRequire(import.meta.url)(join(dist, 'index.cjs'));
    const model = await cjs.CrossEncoder.load(modelDir('bert-tiny'));
    const scores = await model.predict([['a query', 'a document']]);
    expect(scores).toBeInstanceOf(Float32Array);
    await model.close();
    expect(new cjs.CrossrankError('CLOSED', 'x').code).toBe('CLOSED');
  });

  it('import() of the ESM build scores pairs', async () => {
    const esm = await import(join(dist, 'index.js'));
    const model = await esm.CrossEncoder.load(modelDir('bert-tiny'));
    const hits = await model.rerank('q', ['a', 'b']);
    expect(hits).toHaveLength(2);
    await model.close();
  });

  it("the built crossrank/serve entry (dist/serve/) reports the package's version in /info", async () => {
    const serve = await import(join(dist, 'serve', 'index.js'));
    const esm = await import(join(dist, 'index.js'));
    const model = await esm.CrossEncoder.load(modelDir('bert-tiny'));
    const server = await serve.createServer({ models: [{ name: 'b', model }], fastify: { logger: false } });
    try {
      const info = (await server.app.inject({ method: 'GET', url: '/info' })).json();
      expect(info.version).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
    } finally {
      await server.app.close();
      await model.close();
    }
  });

  it('the CLI reranks and reports coded errors with a non-zero exit', () => {
    const ok = spawnSync(process.execPath, [join(dist, 'cli.js'), 'rerank', '--model', modelDir('bert-tiny'), '--query', 'q', 'doc one', 'doc two'], {
      encoding: 'utf8',
    });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/1\. \d\.\d{4} {2}\[\d\] doc/);
    const bad = spawnSync(process.execPath, [join(dist, 'cli.js'), 'info', '--model', '/nonexistent'], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/\[MODEL_NOT_FOUND\]/);
  });
});

describe('native build script', () => {
  it('names every missing tool and what to install, in one message', () => {
    // A PATH that holds node and nothing else.
    const bin = mkdtempSync(join(tmpdir(), 'crossrank-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const run = spawnSync(process.execPath, [join(root, 'native', 'build.mjs')], {
      encoding: 'utf8',
      env: { PATH: bin, CXX: 'no-such-compiler' },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/missing tools/);
    expect(run.stderr).toMatch(/cmake: install CMake/);
    expect(run.stderr).toMatch(/cargo: install the Rust toolchain/);
    expect(run.stderr).toMatch(/no-such-compiler: install a C\+\+17 compiler/);
  });
});

/**
 * A project with crossrank installed the way npm lays it out, from this repository's files, with
 * crossrank's runtime dependencies hoisted beside it (links to this repository's copies, nested
 * ones inside them) and nothing else: no platform package, no build tool.
 */
function fakeInstall(withBuildScript = false): string {
  const project = mkdtempSync(join(tmpdir(), 'crossrank-layout-'));
  const pkg = join(project, 'node_modules', 'crossrank');
  mkdirSync(pkg, { recursive: true });
  for (const { path } of runtimeDependencies(root)) {
    if (path.lastIndexOf('node_modules/') !== 0) continue; // nested: inside its parent's link
    mkdirSync(dirname(join(project, path)), { recursive: true });
    symlinkSync(join(root, path), join(project, path));
  }
  cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
  cpSync(dist, join(pkg, 'dist'), { recursive: true });
  if (withBuildScript) cpSync(join(root, 'native', 'build.mjs'), join(pkg, 'native', 'build.mjs'));
  return project;
}

function loadIn(project: string, env: Record<string, string> = {}): { code?: string; message?: string; addon?: string } {
  const script = `
    const { CrossEncoder } = require('crossrank');
    CrossEncoder.load(${JSON.stringify(modelDir('bert-tiny'))})
      .then(async (m) => { console.log(JSON.stringify({ addon: m.info.addon })); await m.close(); })
      .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
  const run = spawnSync(process.execPath, ['-e', script], { cwd: project, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

describe('which addon loads (lib/native.ts)', () => {
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;

  it('nothing installed: NATIVE_UNAVAILABLE saying what to do on this platform', () => {
    const r = loadIn(fakeInstall());
    expect(r.code).toBe('NATIVE_UNAVAILABLE');
    expect(r.message).toMatch(/no crossrank native addon for linux-x64-gnu/);
    expect(r.message).toMatch(/with optional dependencies .*@crossrank\/linux-x64-gnu/);
    expect(r.message).toContain('npm install --os=linux --cpu=x64 --libc=glibc');
    expect(r.message).toContain('npx crossrank build');
  });

  it('the platform package loads when its version is the same, and is refused naming both versions when not', () => {
    const project = fakeInstall();
    const platform = join(project, 'node_modules', '@crossrank', 'linux-x64-gnu');
    mkdirSync(platform, { recursive: true });
    for (const f of ['crossrank.node', 'libcrossrank_onnxruntime.so.1']) cpSync(join(root, 'npm', 'linux-x64-gnu', f), join(platform, f));
    const manifest = JSON.parse(readFileSync(join(root, 'npm', 'linux-x64-gnu', 'package.json'), 'utf8'));
    writeFileSync(join(platform, 'package.json'), JSON.stringify(manifest));
    expect(loadIn(project).addon).toBe(`@crossrank/linux-x64-gnu@${version} (${join(platform, 'crossrank.node')})`);
    writeFileSync(join(platform, 'package.json'), JSON.stringify({ ...manifest, version: '0.0.1' }));
    const refused = loadIn(project);
    expect(refused.code).toBe('NATIVE_UNAVAILABLE');
    expect(refused.message).toContain(`@crossrank/linux-x64-gnu@0.0.1 is installed`);
    expect(refused.message).toContain(`crossrank is ${version}`);
    // CROSSRANK_ADDON comes first, whatever is installed.
    const fromEnv = loadIn(project, { CROSSRANK_ADDON: join(root, 'build', 'Release', 'crossrank.node') });
    expect(fromEnv.addon).toBe(`CROSSRANK_ADDON (${join(root, 'build', 'Release', 'crossrank.node')})`);
  });

  it('CROSSRANK_BUILD_FROM_SOURCE=1 builds instead of taking the platform package, and says when the build fails', () => {
    const project = fakeInstall(true);
    const platform = join(project, 'node_modules', '@crossrank', 'linux-x64-gnu');
    mkdirSync(platform, { recursive: true });
    cpSync(join(root, 'npm', 'linux-x64-gnu', 'package.json'), join(platform, 'package.json'));
    const bin = mkdtempSync(join(tmpdir(), 'crossrank-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = loadIn(project, { CROSSRANK_BUILD_FROM_SOURCE: '1', PATH: bin });
    expect(r.code).toBe('NATIVE_UNAVAILABLE');
    expect(r.message).toMatch(/CROSSRANK_BUILD_FROM_SOURCE=1: the source build failed/);
  });

  it('a source build (build/Release) comes before the platform package', () => {
    expect(loadIn(root).addon).toBe(`source build (${join(root, 'build', 'Release', 'crossrank.node')})`);
  });
});

describe('source build in a project (npx crossrank build)', () => {
  const bin = mkdtempSync(join(tmpdir(), 'crossrank-path-'));
  symlinkSync(process.execPath, join(bin, 'node'));
  const check = (project: string, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(project, 'node_modules', 'crossrank', 'native', 'build.mjs')], {
      cwd: project,
      encoding: 'utf8',
      env: { PATH: bin, CXX: 'no-such-compiler', ...env },
    }).stderr;

  it('names the npm packages it needs when they are absent, and ONNXRUNTIME_ROOT stands in for ONNX Runtime', () => {
    const project = fakeInstall(true);
    const stderr = check(project);
    expect(stderr).toMatch(/cmake-js: npm install --save-dev cmake-js/);
    expect(stderr).toMatch(/node-addon-api: npm install --save-dev node-addon-api/);
    expect(stderr).toMatch(/ONNX Runtime 1\.29: npm install --save-dev com\.github\.asus4\.onnxruntime/);
    expect(check(project, { ONNXRUNTIME_ROOT: '/opt/onnxruntime' })).not.toMatch(/ONNX Runtime 1\.29/);
  });

  it.each(['hoisted', 'nested'])('finds cmake-js, node-addon-api and ONNX Runtime %s (Node module resolution)', (layout) => {
    const project = fakeInstall(true);
    const into = layout === 'hoisted' ? join(project, 'node_modules') : join(project, 'node_modules', 'crossrank', 'node_modules');
    mkdirSync(into, { recursive: true });
    for (const name of ['cmake-js', 'node-addon-api', 'com.github.asus4.onnxruntime']) symlinkSync(join(root, 'node_modules', name), join(into, name));
    const stderr = check(project);
    expect(stderr).toMatch(/missing tools/); // cmake, cargo, the compiler: not on this PATH
    expect(stderr).not.toMatch(/cmake-js:|node-addon-api:|ONNX Runtime 1\.29/);
  });
});

describe('native build', () => {
  it('builds the tokenizer crate with mimalloc (glibc malloc was a fifth of tokenizing)', async () => {
    const { native } = await import('../lib/native.js');
    expect(native().versions.tokenizerAllocator).toBe('mimalloc');
  });
});
