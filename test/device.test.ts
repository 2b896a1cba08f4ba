// Device selection on a machine without a usable GPU (CI): the CUDA plugin provider is found,
// its failure is explained, 'auto' falls back to the CPU and says why. On a GPU host the same
// calls pick CUDA (bench/gpu/run.mjs checks that).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { cudaProviderPath } from '../lib/native.js';
import { modelDir } from './helpers.js';

const root = join(__dirname, '..');
const dist = join(root, 'dist', 'index.cjs');
const release = join(root, 'build', 'Release');
const cpuOnlyCore = join(root, 'node_modules', 'com.github.asus4.onnxruntime', 'Plugins', 'Linux', 'x64', 'libonnxruntime.so');

/** A folder holding `core` as libcrossrank_onnxruntime.so.1 (crossrank's private name) (and providers_shared if asked): on
 *  LD_LIBRARY_PATH it replaces the core beside the addon, which the addon finds through RUNPATH. */
function coreFolder(core: string, withProvidersShared: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'crossrank-core-'));
  copyFileSync(core, join(dir, 'libcrossrank_onnxruntime.so.1'));
  if (withProvidersShared) copyFileSync(join(release, 'libonnxruntime_providers_shared.so'), join(dir, 'libonnxruntime_providers_shared.so'));
  return dir;
}

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

  it('builds against a CUDA-enabled ONNX Runtime core with the provider bridge beside it', () => {
    // The CUDA provider calls back into CUDA host functions of the core: a CPU-only core crashed
    // in the first Run on a GPU. Only the CUDA-enabled build exports this entry point.
    const symbols = spawnSync('nm', ['-D', '--defined-only', join(release, 'libcrossrank_onnxruntime.so.1')], { encoding: 'utf8' });
    expect(symbols.status, symbols.stderr).toBe(0);
    expect(symbols.stdout).toMatch(/OrtSessionOptionsAppendExecutionProvider_CUDA/);
    expect(existsSync(join(release, 'libonnxruntime_providers_shared.so'))).toBe(true);
  });

  it("device 'cuda' on a CPU-only core: CUDA_UNAVAILABLE naming the core, before the provider loads", () => {
    const dir = coreFolder(cpuOnlyCore, true);
    const r = loadIn({ LD_LIBRARY_PATH: dir }, { device: 'cuda' });
    expect(r.code).toBe('CUDA_UNAVAILABLE');
    expect(r.message).toContain(`core library in use (${join(dir, 'libcrossrank_onnxruntime.so.1')}) is a CPU-only build`);
    const auto = loadIn({ LD_LIBRARY_PATH: dir }, { device: 'auto' });
    expect(auto.info?.device).toBe('cpu');
    expect(auto.info?.deviceReason).toMatch(/CPU-only build/);
  });

  it("device 'cuda' without libonnxruntime_providers_shared.so beside the core: CUDA_UNAVAILABLE naming it", () => {
    const dir = coreFolder(join(release, 'libcrossrank_onnxruntime.so.1'), false);
    const r = loadIn({ LD_LIBRARY_PATH: dir }, { device: 'cuda' });
    expect(r.code).toBe('CUDA_UNAVAILABLE');
    expect(r.message).toMatch(/libonnxruntime_providers_shared\.so is missing beside the ONNX Runtime core library/);
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
