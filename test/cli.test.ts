// The command line as a user meets it: `crossrank --version`, and errors that name the flag the
// user typed (--top-k), never the library's option path (options.topK). Runs dist/cli.js.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { withFlagNames } from '../lib/cli-errors.js';
import { CrossrankError } from '../lib/errors.js';
import { FIXTURES, modelDir } from './helpers.js';

const ROOT = join(FIXTURES, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HF_HUB_OFFLINE: '1' } });

describe('crossrank --version', () => {
  it('prints package.json version alone and exits 0 (also -V)', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = cli(flag);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('--help exits 0 and lists --version', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('crossrank --version');
  });
});

describe('CLI errors name the CLI flag', () => {
  const model = modelDir('bert-tiny');
  const cases: Array<{ args: string[]; says: string; not: string }> = [
    { args: ['rerank', '--model', model, '--query', 'q', '--top-k', 'ten', 'a', 'b'], says: '--top-k must be an integer, received "ten"', not: 'options.' },
    { args: ['rerank', '--model', model, '--query', 'q', '--top-k=-1', 'a', 'b'], says: '--top-k must be an integer from 0', not: 'options.topK' },
    { args: ['rerank', '--model', model, '--query', 'q', '--device', 'gpu', 'a'], says: '--device must be one of "cpu", "cuda", "auto"', not: 'options.device' },
    { args: ['info', '--model', model, '--precision', 'fp8'], says: '--precision must be one of', not: 'options.precision' },
    { args: ['eval', '--model', model, '--data', ROOT, '--run', CLI, '--concurrency', '0'], says: '--concurrency must be an integer from 1 to 1024', not: 'options.concurrency' },
    { args: ['serve', '--model', model, '--threads', '99999', '--port', '0'], says: '--threads must be an integer from 0 to', not: 'options.threads' },
  ];
  for (const { args, says, not } of cases) {
    it(`crossrank ${args[0]}: ${says}`, () => {
      const r = cli(...args);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(says);
      expect(r.stderr).toContain('[INVALID_ARGUMENT]');
      expect(r.stderr).not.toContain(not);
    });
  }

  it('an unknown flag is a usage error: exit 2, naming the flag', () => {
    const r = cli('rerank', '--model', model, '--topk', '3', 'a');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("'--topk'");
    expect(r.stderr).toContain('crossrank --help');
  });

  it('withFlagNames rewrites only option paths the command has a flag for, and keeps the code', () => {
    const error = new CrossrankError('INVALID_ARGUMENT', 'options.maxQueuedPairs must be ...; options.modelFile must be ...');
    const named = withFlagNames(error, ['max-queued-pairs']) as CrossrankError;
    expect(named).toBeInstanceOf(CrossrankError);
    expect(named.code).toBe('INVALID_ARGUMENT');
    expect(named.message).toBe('--max-queued-pairs must be ...; options.modelFile must be ...');
    const plain = new Error('options.topK');
    expect(withFlagNames(plain, ['top-k'])).toBe(plain);
  });
});
