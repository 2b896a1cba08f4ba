// Device selection on a machine without a usable GPU (CI): the CUDA plugin provider is found,
// its failure is explained, 'auto' falls back to the CPU and says why. On a GPU host the same
// calls pick CUDA (bench/gpu/run.mjs checks that).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { cudaProviderPath } from '../lib/native.js';
import { modelDir } from './helpers.js';

const dist = join(__dirname, '..', 'dist', 'index.cjs');

/** Loads in a fresh process (provider registration is once per process) with the given env. */
function loadIn(env: Record<string, string>, options: object): { code?: string; message?: string; info?: { device: string; deviceReason: string; providers: string[] } } {
  const script = `
    const { CrossEncoder } = require(${JSON.stringify(dist)});
    CrossEncoder.load(${JSON.stringify(modelDir('bert-tiny'))}, ${JSON.stringify(options)})
      .then(async (m) => { console.log(JSON.stringify({ info: m.info })); await m.close(); })
      .catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout);
}

describe('CUDA execution provider', () => {
  it('finds the provider library of the optional npm dependency', () => {
    const path = cudaProviderPath();
    expect(path).toMatch(/libonnxruntime_providers_cuda\.so$/);
    expect(existsSync(path)).toBe(true);
  });

  it("device 'cuda' without the CUDA 13 libraries: CUDA_UNAVAILABLE naming them", () => {
    const r = loadIn({}, { device: 'cuda' });
    expect(r.code).toBe('CUDA_UNAVAILABLE');
    expect(r.message).toMatch(/CUDA 13 libraries|libcu|NVIDIA driver/);
  });

  it("device 'cuda' with a provider path that does not exist: CUDA_UNAVAILABLE naming the file", () => {
    const r = loadIn({ CROSSRANK_CUDA_PROVIDER: '/nonexistent/libonnxruntime_providers_cuda.so' }, { device: 'cuda' });
    expect(r.code).toBe('CUDA_UNAVAILABLE');
    expect(r.message).toMatch(/\/nonexistent\/libonnxruntime_providers_cuda\.so does not exist/);
  });

  it("device 'cuda' with a file that is not a provider library: CUDA_UNAVAILABLE, no crash", () => {
    const r = loadIn({ CROSSRANK_CUDA_PROVIDER: join(modelDir('bert-tiny'), 'model.onnx') }, { device: 'cuda' });
    expect(r.code).toBe('CUDA_UNAVAILABLE');
    expect(r.message).toMatch(/cannot register the CUDA provider library/);
  });

  it("device 'auto' falls back to the CPU and says why", () => {
    const r = loadIn({}, { device: 'auto' });
    expect(r.info?.device).toBe('cpu');
    expect(r.info?.providers).toEqual(['CPUExecutionProvider']);
    expect(r.info?.deviceReason).toMatch(/^auto: CUDA unavailable \(.+\), using CPU$/);
  });

  it('a bad deviceId is INVALID_ARGUMENT before anything loads', async () => {
    await expect(CrossEncoder.load(modelDir('bert-tiny'), { device: 'cuda', deviceId: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it("precision picks the hub's file names and reports a missing variant", async () => {
    await expect(CrossEncoder.load(modelDir('bert-tiny'), { precision: 'fp16' })).rejects.toThrow(/no fp16 ONNX model .*onnx\/model_fp16\.onnx/);
  });
});
