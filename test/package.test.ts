// The published shapes: ESM and CommonJS entry points with types, the CLI, and the build
// script's toolchain check.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { modelDir } from './helpers.js';

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

describe('native build', () => {
  it('builds the tokenizer crate with mimalloc (glibc malloc was a fifth of tokenizing)', async () => {
    const { native } = await import('../lib/native.js');
    expect(native().versions.tokenizerAllocator).toBe('mimalloc');
  });
});
