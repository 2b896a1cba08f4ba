// `crossrank download --model ID`: fills the Hugging Face cache with exactly the files a later
// load with the same --precision/--device reads (the Kubernetes init step of deploy/helm), so
// that the server starts with HF_HUB_OFFLINE=1. Against the hub emulator (test/hub-emulator.ts).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FIXTURES, modelDir } from './helpers.js';
import { HubEmulator } from './hub-emulator.js';

const run = promisify(execFile);
const ROOT = join(FIXTURES, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const bert = (f: string): Buffer => readFileSync(join(modelDir('bert-tiny'), f));

let hub: HubEmulator;
let scratch: string;
let commit: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'crossrank-download-'));
  hub = new HubEmulator();
  await hub.start();
  commit = hub.addRepo('cross-encoder/tiny-ce', {
    'config.json': bert('config.json'),
    'tokenizer.json': bert('tokenizer.json'),
    'tokenizer_config.json': bert('tokenizer_config.json'),
    'onnx/model.onnx': bert('model.onnx'),
    'onnx/model_O4.onnx': bert('model.onnx'),
    'pytorch_model.bin': Buffer.alloc(4096, 7),
  });
});

afterAll(async () => {
  await hub?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('crossrank download', () => {
  it('downloads what serve loads, once; the cache then serves offline with the same file choice', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(scratch, 'cache'), HF_TOKEN_PATH: join(scratch, 'no-token') };
    delete env.HF_HUB_OFFLINE;
    delete env.HF_TOKEN;
    hub.clearLog();
    const first = await run(process.execPath, [CLI, 'download', '--model', 'cross-encoder/tiny-ce'], { env, timeout: 60_000 });
    const got = JSON.parse(first.stdout);
    expect(got).toMatchObject({ repo: 'cross-encoder/tiny-ce', revision: 'main', commit, file: 'onnx/model.onnx', source: 'hub' });
    expect(got.downloaded).toContain('onnx/model.onnx');
    expect(got.downloaded).toContain('tokenizer.json');
    expect(got.downloaded).not.toContain('pytorch_model.bin'); // only what the ONNX load needs
    expect(got.downloaded).not.toContain('onnx/model_O4.onnx');
    expect(readFileSync(join(got.dir, 'onnx', 'model.onnx')).equals(bert('model.onnx'))).toBe(true);

    // Again: nothing to download.
    const again = JSON.parse((await run(process.execPath, [CLI, 'download', '--model', 'cross-encoder/tiny-ce'], { env, timeout: 60_000 })).stdout);
    expect(again.downloaded).toEqual([]);

    // The server's load, offline: the same snapshot and file, and no request reaches the hub.
    hub.clearLog();
    const info = JSON.parse((await run(process.execPath, [CLI, 'info', '--model', 'cross-encoder/tiny-ce'], { env: { ...env, HF_HUB_OFFLINE: '1' }, timeout: 60_000 })).stdout);
    expect(info.hub).toMatchObject({ repo: 'cross-encoder/tiny-ce', commit, file: 'onnx/model.onnx', source: 'cache' });
    expect(hub.requests).toHaveLength(0);
  }, 120_000);

  it('a folder or a bad --device is an INVALID_ARGUMENT, exit 1', async () => {
    for (const args of [['--model', modelDir('bert-tiny')], ['--model', 'cross-encoder/tiny-ce', '--device', 'tpu']]) {
      const failed = await run(process.execPath, [CLI, 'download', ...args], { env: { ...process.env, HF_ENDPOINT: hub.url, HF_HUB_CACHE: join(scratch, 'cache2') }, timeout: 60_000 }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code: number; stderr: string }) => e,
      );
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/\[INVALID_ARGUMENT\]/);
    }
  }, 60_000);
});
