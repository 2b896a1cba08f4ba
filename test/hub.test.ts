// Loading by hub id against the hub emulator (test/hub-emulator.ts): downloads, the shared
// cache, offline mode, file choice, external data, errors and the CLI.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  cpSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { CrossEncoder, CrossrankError, chooseModelFile, choosePrecision, cpuFeatures, hubSettings, parseModelRef, resolveHubModel } from '../lib/index.js';
import type { DownloadProgress } from '../lib/index.js';
import { FIXTURES, PYTHON, maxAbsDiff, modelDir } from './helpers.js';
import { HubEmulator } from './hub-emulator.js';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const BERT = modelDir('bert-tiny');
const bert = (f: string): Buffer => readFileSync(join(BERT, f));
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const PAIRS: [string, string][] = [
  ['how do vaccines work', 'Vaccines train the immune system.'],
  ['how do vaccines work', 'The Eiffel Tower is in Paris.'],
];

// The cross-encoder org's layout: tokenizer at the root, ONNX files under onnx/, extra files never needed.
const CE_FILES = {
  'config.json': bert('config.json'),
  'tokenizer.json': bert('tokenizer.json'),
  'tokenizer_config.json': bert('tokenizer_config.json'),
  'special_tokens_map.json': '{"cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]"}',
  'config_sentence_transformers.json': '{"__version__": {"sentence_transformers": "4.0.0"}}',
  'onnx/model.onnx': bert('model.onnx'),
  'onnx/model_O1.onnx': bert('model.onnx'),
  'onnx/model_O4.onnx': bert('model.onnx'),
  'onnx/model_qint8_avx512_vnni.onnx': bert('model.onnx'),
  'onnx/model_qint8_avx512.onnx': bert('model.onnx'),
  'onnx/model_quint8_avx2.onnx': bert('model.onnx'),
  'onnx/model_qint8_arm64.onnx': bert('model.onnx'),
  'openvino/openvino_model.xml': '<net/>',
  'pytorch_model.bin': Buffer.alloc(4096, 7),
  'README.md': '# tiny cross-encoder\n',
};
const CE_SIDE = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'config_sentence_transformers.json'];
const size = (f: string): number => Buffer.from(CE_FILES[f as keyof typeof CE_FILES]).length;

let hub: HubEmulator;
let cache: string;
let scratch: string;
let commit: string;
let reference: Float32Array;
const savedEnv = { ...process.env };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(CrossrankError);
    return (error as CrossrankError).code;
  }
  throw new Error('expected a rejection');
}

async function scores(id: string, options: Parameters<typeof CrossEncoder.load>[1] = {}): Promise<{ scores: Float32Array; info: CrossEncoder['info'] }> {
  const m = await CrossEncoder.load(id, options);
  try {
    return { scores: await m.predict(PAIRS), info: m.info };
  } finally {
    await m.close();
  }
}

const downloadedPaths = (): string[] =>
  hub
    .downloads()
    .map((r) => r.path)
    .sort();

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'crossrank-hub-'));
  hub = new HubEmulator();
  await hub.start();
  commit = hub.addRepo('cross-encoder/tiny-ce', CE_FILES, { tags: ['v1'] });
  hub.rename('cross-encoder/tiny-CE-old', 'cross-encoder/tiny-ce');
  hub.addRepo('Xenova/tiny-ce', {
    'config.json': bert('config.json'),
    'tokenizer.json': bert('tokenizer.json'),
    'tokenizer_config.json': bert('tokenizer_config.json'),
    'onnx/model.onnx': bert('model.onnx'),
    'onnx/model_fp16.onnx': bert('model.onnx'),
    'onnx/model_quantized.onnx': bert('model.onnx'),
  });
  hub.addRepo('org/gated', CE_FILES, { gated: true, tokens: ['hf_granted'] });
  hub.addRepo('org/private', CE_FILES, { private: true, tokens: ['hf_granted'] });
  hub.addRepo('org/other', { 'config.json': '{}' }, { tokens: ['hf_other'] });
  hub.addRepo('org/no-onnx', { 'config.json': bert('config.json'), 'tokenizer.json': bert('tokenizer.json'), 'pytorch_model.bin': Buffer.alloc(64) });
  const m = await CrossEncoder.load(BERT);
  reference = await m.predict(PAIRS);
  await m.close();
});

afterAll(async () => {
  await hub.close();
  rmSync(scratch, { recursive: true, force: true });
});

beforeEach(() => {
  cache = mkdtempSync(join(scratch, 'cache-'));
  for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_HUB_OFFLINE', 'HF_HOME', 'HF_HUB_CACHE']) delete process.env[k];
  process.env.HF_ENDPOINT = hub.url;
  process.env.HF_HUB_CACHE = cache;
  process.env.HF_TOKEN_PATH = join(scratch, 'no-token');
  hub.clearLog();
});

afterEach(() => {
  process.env = { ...savedEnv };
});

describe('loading by hub id', () => {
  it('the first load downloads only the needed files into the HF cache layout; the second makes one metadata request and no download', async () => {
    const first = await scores('cross-encoder/tiny-ce');
    expect(maxAbsDiff(first.scores, reference)).toBe(0);
    expect(first.info.hub).toEqual({ repo: 'cross-encoder/tiny-ce', revision: 'main', commit, file: 'onnx/model.onnx', source: 'hub' });
    // 1 revision + 1 paths-info; the 5 side files + the ONNX file (after its 302), nothing else.
    expect(hub.metadataRequests().map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual([
      'GET /api/models/cross-encoder/tiny-ce/revision/main',
      `POST /api/models/cross-encoder/tiny-ce/paths-info/${commit}`,
    ]);
    expect(downloadedPaths()).toEqual([
      ...CE_SIDE.map((f) => `/cross-encoder/tiny-ce/resolve/${commit}/${f}`),
      `/cdn-lfs/${sha256(bert('model.onnx'))}`,
    ].sort());
    expect(hub.requests.filter((r) => r.status === 302)).toHaveLength(1);
    expect(hub.requests).toHaveLength(2 + CE_SIDE.length + 2); // nothing else: no HEAD, no probe

    // Python's layout: refs/main, blobs named by git oid / LFS sha256, relative snapshot links.
    const storage = join(cache, 'models--cross-encoder--tiny-ce');
    expect(readFileSync(join(storage, 'refs', 'main'), 'utf8')).toBe(commit);
    const link = join(storage, 'snapshots', commit, 'onnx', 'model.onnx');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readlinkSync(link)).toBe(join('..', '..', '..', 'blobs', sha256(bert('model.onnx'))));
    expect(readdirSync(join(storage, 'blobs')).filter((b) => b.endsWith('.incomplete'))).toEqual([]);
    expect(first.info.modelPath).toBe(link);

    hub.clearLog();
    const second = await scores('cross-encoder/tiny-ce');
    expect(maxAbsDiff(second.scores, reference)).toBe(0);
    expect(hub.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual(['GET /api/models/cross-encoder/tiny-ce/revision/main']);
    expect(hub.downloads()).toEqual([]);
  });

  it('HF_HUB_OFFLINE=1 loads from the cache with no request at all', async () => {
    await scores('cross-encoder/tiny-ce');
    hub.clearLog();
    process.env.HF_HUB_OFFLINE = '1';
    const offline = await scores('cross-encoder/tiny-ce');
    expect(maxAbsDiff(offline.scores, reference)).toBe(0);
    expect(offline.info.hub).toMatchObject({ commit, file: 'onnx/model.onnx', source: 'cache' });
    expect(hub.requests).toEqual([]);
  });

  it('offline and not cached is HUB_OFFLINE, with no request', async () => {
    process.env.HF_HUB_OFFLINE = 'true';
    await expect(CrossEncoder.load('cross-encoder/tiny-ce')).rejects.toMatchObject({ code: 'HUB_OFFLINE', message: expect.stringMatching(/not in the cache/) });
    expect(hub.requests).toEqual([]);
  });

  it('a revision by tag, by commit and by org/name@rev; refs/<tag> is written, not for a commit', async () => {
    const tagged = await scores('cross-encoder/tiny-ce@v1');
    expect(tagged.info.hub).toMatchObject({ revision: 'v1', commit });
    expect(readFileSync(join(cache, 'models--cross-encoder--tiny-ce', 'refs', 'v1'), 'utf8')).toBe(commit);
    hub.clearLog();
    const pinned = await scores('cross-encoder/tiny-ce', { revision: commit });
    expect(pinned.info.hub).toMatchObject({ revision: commit, commit });
    expect(hub.downloads()).toEqual([]); // same commit: the snapshot is shared
    expect(existsSync(join(cache, 'models--cross-encoder--tiny-ce', 'refs', commit))).toBe(false);
    await expect(CrossEncoder.load('cross-encoder/tiny-ce@v1', { revision: 'main' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('the renamed repo: the relative 307 is followed, the cache keeps the name asked for (as Python does)', async () => {
    const renamed = await scores('cross-encoder/tiny-CE-old');
    expect(maxAbsDiff(renamed.scores, reference)).toBe(0);
    expect(hub.requests.filter((r) => r.status === 307).length).toBeGreaterThanOrEqual(2);
    expect(existsSync(join(cache, 'models--cross-encoder--tiny-CE-old', 'snapshots', commit, 'onnx', 'model.onnx'))).toBe(true);
  });

  it('an existing folder is used as before, even when it looks like an id', async () => {
    const dir = join(scratch, 'org-folder');
    mkdirSync(join(dir, 'org'), { recursive: true });
    cpSync(BERT, join(dir, 'org', 'model'), { recursive: true });
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const local = await scores('org/model');
      expect(local.info.hub).toBeUndefined();
    } finally {
      process.chdir(cwd);
    }
    expect(hub.requests).toEqual([]);
  });

  it('onProgress reports every byte of the downloads, and the library prints nothing', async () => {
    const events: DownloadProgress[] = [];
    const out = vi.spyOn(process.stdout, 'write');
    const err = vi.spyOn(process.stderr, 'write');
    const logs = (['log', 'info', 'debug', 'warn', 'error'] as const).map((k) => vi.spyOn(console, k));
    try {
      const m = await CrossEncoder.load('cross-encoder/tiny-ce', { onProgress: (p) => events.push(p) });
      await m.close();
      expect(out).not.toHaveBeenCalled();
      expect(err).not.toHaveBeenCalled();
      for (const l of logs) expect(l).not.toHaveBeenCalled();
    } finally {
      out.mockRestore();
      err.mockRestore();
      for (const l of logs) l.mockRestore();
    }
    const total = [...CE_SIDE, 'onnx/model.onnx'].reduce((sum, f) => sum + size(f), 0);
    expect(events.at(-1)).toMatchObject({ loaded: total, total });
    expect(new Set(events.map((e) => e.file))).toEqual(new Set([...CE_SIDE, 'onnx/model.onnx']));
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThan(events[i - 1]!.loaded);
    for (const f of [...CE_SIDE, 'onnx/model.onnx']) {
      expect(events.filter((e) => e.file === f).at(-1)).toMatchObject({ fileLoaded: size(f), fileTotal: size(f) });
    }
  });
});

describe('the cache is shared with Python huggingface_hub', () => {
  const pyEnv = (): NodeJS.ProcessEnv => ({ ...process.env, HF_HUB_DISABLE_TELEMETRY: '1', HF_HUB_DISABLE_PROGRESS_BARS: '1', HF_HUB_DISABLE_XET: '1' });

  it("a cache written by Python's hf_hub_download against the emulator is used as is: one metadata request, no download", async () => {
    const script = `
from huggingface_hub import hf_hub_download
for f in ${JSON.stringify([...CE_SIDE, 'onnx/model.onnx'])}:
    hf_hub_download("cross-encoder/tiny-ce", f)
`;
    await run(PYTHON, ['-c', script], { env: pyEnv(), timeout: 60_000 });
    expect(hub.downloads().length).toBe(CE_SIDE.length + 1); // Python did download
    hub.clearLog();
    const loaded = await scores('cross-encoder/tiny-ce');
    expect(maxAbsDiff(loaded.scores, reference)).toBe(0);
    expect(hub.requests.map((r) => r.path.split('?')[0])).toEqual(['/api/models/cross-encoder/tiny-ce/revision/main']);
    hub.clearLog();
    process.env.HF_HUB_OFFLINE = '1';
    await scores('cross-encoder/tiny-ce');
    expect(hub.requests).toEqual([]);
  });

  it('and the reverse: Python finds what crossrank downloaded, offline, at the same paths', async () => {
    const m = await scores('cross-encoder/tiny-ce');
    const script = `
import json
from huggingface_hub import hf_hub_download
print(json.dumps([hf_hub_download("cross-encoder/tiny-ce", f) for f in ${JSON.stringify([...CE_SIDE, 'onnx/model.onnx'])}]))
`;
    hub.clearLog();
    const { stdout } = await run(PYTHON, ['-c', script], { env: { ...pyEnv(), HF_HUB_OFFLINE: '1' }, timeout: 60_000 });
    const paths = JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
    expect(paths.at(-1)).toBe(m.info.modelPath);
    expect(paths[1]).toBe(m.info.tokenizerPath);
    expect(hub.requests).toEqual([]);
  });
});

describe('file choice', () => {
  const CE = Object.keys(CE_FILES);
  const TJS = ['onnx/model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx', 'onnx/model_q4.onnx'];
  const none = { arm64: false, avx512vnni: false, avx512: false, avx2: false };

  it('the table: fp32, fp16 by device, int8 by instruction set, in both naming schemes', () => {
    expect(chooseModelFile(CE, 'r', 'fp32', 'cpu', none)).toBe('onnx/model.onnx');
    expect(chooseModelFile(['onnx/model_O1.onnx', 'onnx/model_O3.onnx'], 'r', 'fp32', 'cpu', none)).toBe('onnx/model_O1.onnx');
    expect(() => chooseModelFile(['onnx/model_O3.onnx'], 'r', 'fp32', 'cpu', none)).toThrow(/no fp32 ONNX model/); // O3 approximates GELU
    expect(chooseModelFile(CE, 'r', 'fp16', 'cuda', none)).toBe('onnx/model_O4.onnx');
    expect(chooseModelFile(TJS, 'r', 'fp16', 'cuda', none)).toBe('onnx/model_fp16.onnx');
    expect(chooseModelFile(TJS, 'r', 'fp16', 'cpu', none)).toBe('onnx/model_fp16.onnx');
    expect(() => chooseModelFile(CE, 'r', 'fp16', 'cpu', none)).toThrow(/no fp16 ONNX model/); // O4 is GPU-only
    const vnni = { arm64: false, avx512vnni: true, avx512: true, avx2: true };
    expect(chooseModelFile(CE, 'r', 'int8', 'cpu', vnni)).toBe('onnx/model_qint8_avx512_vnni.onnx');
    expect(chooseModelFile(CE, 'r', 'int8', 'cpu', { ...vnni, avx512vnni: false })).toBe('onnx/model_qint8_avx512.onnx');
    expect(chooseModelFile(CE, 'r', 'int8', 'cpu', { ...none, avx2: true })).toBe('onnx/model_quint8_avx2.onnx');
    expect(chooseModelFile(CE, 'r', 'int8', 'cpu', { ...none, arm64: true })).toBe('onnx/model_qint8_arm64.onnx');
    expect(() => chooseModelFile(CE, 'r', 'int8', 'cpu', none)).toThrow(/no int8 ONNX model/);
    expect(chooseModelFile(TJS, 'r', 'int8', 'cpu', vnni)).toBe('onnx/model_quantized.onnx');
    expect(chooseModelFile(['model.onnx', 'onnx/model.onnx'], 'r')).toBe('model.onnx');
    expect(() => chooseModelFile(['pytorch_model.bin'], 'r')).toThrow(/crossrank convert/);
  });

  it("q4: transformers.js's 4-bit files by device, never taken for int8", () => {
    const q4 = ['onnx/model.onnx', 'onnx/model_q4.onnx', 'onnx/model_q4f16.onnx', 'onnx/model_bnb4.onnx'];
    expect(chooseModelFile(q4, 'r', 'q4', 'cpu', none)).toBe('onnx/model_q4.onnx');
    expect(chooseModelFile(q4, 'r', 'q4', 'cuda', none)).toBe('onnx/model_q4f16.onnx');
    expect(chooseModelFile(['onnx/model_bnb4.onnx'], 'r', 'q4', 'cpu', none)).toBe('onnx/model_bnb4.onnx');
    expect(() => chooseModelFile(['onnx/model_q4f16.onnx'], 'r', 'q4', 'cpu', none)).toThrow(/no q4 ONNX model/); // fp16 compute: cuda or auto
    expect(chooseModelFile(['onnx/model_q4f16.onnx'], 'r', 'q4', 'auto', none)).toBe('onnx/model_q4f16.onnx');
    expect(() => chooseModelFile(q4, 'r', 'int8', 'cpu', none)).toThrow(/no int8 ONNX model/);
  });

  it('cpuFeatures reads /proc/cpuinfo flags', () => {
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.trim().split(/\s+/) ?? [];
    expect(cpuFeatures().avx2).toBe(flags.includes('avx2'));
    expect(cpuFeatures().avx512vnni).toBe(flags.includes('avx512_vnni') && flags.includes('avx512f') && flags.includes('avx512bw'));
    expect(cpuFeatures().arm64).toBe(process.arch === 'arm64');
  });

  it('int8 from the hub downloads only the file for this CPU; modelFile overrides; transformers.js names work', async () => {
    const int8 = chooseModelFile(CE, 'r', 'int8', 'cpu');
    const r = await scores('cross-encoder/tiny-ce', { precision: 'int8' });
    expect(r.info.hub?.file).toBe(int8);
    expect(downloadedPaths().filter((p) => p.includes('resolve') && p.endsWith('.onnx'))).toEqual([]);
    expect(readdirSync(join(cache, 'models--cross-encoder--tiny-ce', 'snapshots', commit, 'onnx'))).toEqual([int8.slice(5)]);

    const o1 = await scores('cross-encoder/tiny-ce', { modelFile: 'onnx/model_O1.onnx' });
    expect(o1.info.hub?.file).toBe('onnx/model_O1.onnx');
    expect(await codeOf(CrossEncoder.load('cross-encoder/tiny-ce', { modelFile: 'onnx/nope.onnx' }))).toBe('MODEL_NOT_FOUND');
    expect(await codeOf(CrossEncoder.load('cross-encoder/tiny-ce', { modelFile: '../../escape.onnx' }))).toBe('INVALID_ARGUMENT');

    const tjs = await scores('Xenova/tiny-ce', { precision: 'fp16' });
    expect(tjs.info.hub?.file).toBe('onnx/model_fp16.onnx');
    expect(maxAbsDiff(tjs.scores, reference)).toBe(0);
  });

  it("precision 'auto': the hub's unchecked int8 files give fp32 (not downloaded); a repo crossrank convert made is read by its record", async () => {
    const plain = await scores('cross-encoder/tiny-ce', { precision: 'auto' });
    expect(plain.info.hub?.file).toBe('onnx/model.onnx');
    expect(plain.info.precisionChoice).toMatchObject({ requested: 'auto', chosen: 'fp32', reason: expect.stringMatching(/no crossrank_convert\.json/) });
    expect(readdirSync(join(cache, 'models--cross-encoder--tiny-ce', 'snapshots', commit, 'onnx'))).toEqual(['model.onnx']);

    // A converted folder uploaded as is: its record passed at the default bounds, and config.json
    // claims a MiniLM-L6 shape (the graph stays bert-tiny's; the rule reads the shape from config.json).
    const record = {
      parity_pairs: 512,
      int8_vocab_pairs: 800,
      outputs: {
        int8: { passed: true, file: 'onnx/model_quantized.onnx', spearman_min: 0.995, top10_min: 0.9, batch_dependence: 0, bounds: { spearman_min: 0.99, top10_min: 0.9, batch_dependence: 1e-5 } },
      },
    };
    const config = { ...JSON.parse(bert('config.json').toString()), hidden_size: 384, num_hidden_layers: 6 };
    const converted = hub.addRepo('org/converted', {
      'config.json': JSON.stringify(config),
      'tokenizer.json': bert('tokenizer.json'),
      'tokenizer_config.json': bert('tokenizer_config.json'),
      'crossrank_convert.json': JSON.stringify(record),
      'onnx/model.onnx': bert('model.onnx'),
      'onnx/model_quantized.onnx': bert('model.onnx'),
    });
    hub.clearLog();
    const expected = choosePrecision({ files: ['config.json', 'crossrank_convert.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx'], record, shape: { hiddenSize: 384, layers: 6 }, device: 'cpu', cpu: cpuFeatures() });
    const auto = await scores('org/converted', { precision: 'auto' });
    expect(auto.info.precisionChoice).toEqual({ requested: 'auto', chosen: expected.chosen, reason: expected.reason });
    expect(auto.info.hub?.file).toBe(expected.chosen === 'int8' ? 'onnx/model_quantized.onnx' : 'onnx/model.onnx');
    expect(readdirSync(join(cache, 'models--org--converted', 'snapshots', converted))).toContain('crossrank_convert.json');
    expect(maxAbsDiff(auto.scores, reference)).toBe(0);
    // Offline, the same choice from the cache alone.
    process.env.HF_HUB_OFFLINE = '1';
    const offline = await scores('org/converted', { precision: 'auto' });
    expect(offline.info.precisionChoice).toEqual(auto.info.precisionChoice);
    expect(offline.info.hub?.source).toBe('cache');
  });

  it("a converted repo whose record vouches for its fused fp32 file: 'auto' loads it, the default keeps model.onnx", async () => {
    const record = { parity_pairs: 512, outputs: { optimized: { passed: true, file: 'onnx/model_optimized.onnx', max_abs_diff: 3e-5 } } };
    hub.addRepo('org/fused', {
      'config.json': bert('config.json'),
      'tokenizer.json': bert('tokenizer.json'),
      'tokenizer_config.json': bert('tokenizer_config.json'),
      'crossrank_convert.json': JSON.stringify(record),
      'onnx/model.onnx': bert('model.onnx'),
      'onnx/model_optimized.onnx': bert('model.onnx'),
    });
    const auto = await scores('org/fused', { precision: 'auto' });
    expect(auto.info.hub?.file).toBe('onnx/model_optimized.onnx');
    expect(auto.info.precisionChoice).toMatchObject({ requested: 'auto', chosen: 'fp32', reason: expect.stringMatching(/onnx\/model_optimized\.onnx, the fp32 graph with attention and LayerNorm fused/) });
    expect(maxAbsDiff(auto.scores, reference)).toBe(0);
    const plain = await scores('org/fused');
    expect(plain.info.hub?.file).toBe('onnx/model.onnx');
  });

  it('a repo with no ONNX file is MODEL_NOT_FOUND telling to run crossrank convert', async () => {
    await expect(CrossEncoder.load('org/no-onnx')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/crossrank convert/) });
    expect(hub.downloads()).toEqual([]);
  });
});

describe('ONNX external data', () => {
  let extDir: string;
  beforeAll(async () => {
    extDir = join(scratch, 'external');
    mkdirSync(join(extDir, 'onnx'), { recursive: true });
    for (const f of CE_SIDE) writeFileSync(join(extDir, f), CE_FILES[f as keyof typeof CE_FILES]);
    const script = `
import onnx, sys
m = onnx.load(sys.argv[1])
onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=0)
`;
    await run(PYTHON, ['-c', script, join(BERT, 'model.onnx'), join(extDir, 'onnx', 'model.onnx')], { timeout: 60_000 });
  });

  it('a model.onnx + model.onnx_data pair loads from a folder and from the hub', async () => {
    const graph = readFileSync(join(extDir, 'onnx', 'model.onnx'));
    expect(graph.length).toBeLessThan(bert('model.onnx').length / 10); // the weights really are outside
    const local = await scores(extDir);
    expect(maxAbsDiff(local.scores, reference)).toBeLessThan(1e-6);

    hub.addRepo('org/external', extDir);
    const remote = await scores('org/external');
    expect(maxAbsDiff(remote.scores, reference)).toBeLessThan(1e-6);
    expect(downloadedPaths().filter((p) => p.startsWith('/cdn-lfs/'))).toEqual(
      [sha256(graph), sha256(readFileSync(join(extDir, 'onnx', 'model.onnx_data')))].sort().map((h) => `/cdn-lfs/${h}`),
    );
    expect(existsSync(join(dirname(remote.info.modelPath), 'model.onnx_data'))).toBe(true);
  });
});

describe('an onnx-community style LLM reranker repo (causal-LM graphs with past inputs)', () => {
  it('precision q4 downloads model_q4.onnx with its external data and nothing else; it scores as sentence-transformers', async () => {
    const past = join(FIXTURES, 'models', 'qwen3-causal-past-tiny');
    const repo = join(scratch, 'onnx-community');
    mkdirSync(join(repo, 'onnx'), { recursive: true });
    for (const f of readdirSync(past)) if (f !== 'onnx') writeFileSync(join(repo, f), readFileSync(join(past, f)));
    writeFileSync(join(repo, 'onnx', 'model_fp16.onnx'), readFileSync(join(past, 'onnx', 'model_fp16.onnx')));
    // Stand-ins with the repo's names: the fp32 graph as model.onnx and as model_q4.onnx, each with its weights outside.
    const script = `
import onnx, sys
for name in ("model.onnx", "model_q4.onnx"):
    m = onnx.load(sys.argv[1])
    onnx.save_model(m, sys.argv[2] + "/" + name, save_as_external_data=True, all_tensors_to_one_file=True, location=name + "_data", size_threshold=0)
`;
    await run(PYTHON, ['-c', script, join(past, 'onnx', 'model.onnx'), join(repo, 'onnx')], { timeout: 60_000 });
    hub.addRepo('onnx-community/tiny-reranker-ONNX', repo);
    const g = JSON.parse(readFileSync(join(FIXTURES, 'goldens', 'qwen3-causal-past-tiny.json'), 'utf8'));
    const model = await CrossEncoder.load('onnx-community/tiny-reranker-ONNX', { precision: 'q4' });
    try {
      expect(model.info.hub?.file).toBe('onnx/model_q4.onnx');
      expect(model.info.llm?.graph).toBe('causal-lm-with-past');
      const snapshot = dirname(dirname(model.info.modelPath));
      expect(readdirSync(join(snapshot, 'onnx')).sort()).toEqual(['model_q4.onnx', 'model_q4.onnx_data']);
      expect(existsSync(join(snapshot, 'chat_template.jinja'))).toBe(true);
      expect(maxAbsDiff(await model.predict(g.pairs), g.cases[0].scores)).toBeLessThanOrEqual(1e-4);
    } finally {
      await model.close();
    }
  });
});

describe('errors', () => {
  it('an unknown repo, revision or file is MODEL_NOT_FOUND', async () => {
    await expect(CrossEncoder.load('org/does-not-exist')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/HF_TOKEN/) });
    await expect(CrossEncoder.load('cross-encoder/tiny-ce@v9')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/no revision v9/) });
    expect(await codeOf(CrossEncoder.load('cross-encoder/tiny-ce', { modelFile: 'onnx/model_missing.onnx' }))).toBe('MODEL_NOT_FOUND');
    expect(hub.requests.map((r) => r.status)).toEqual([401, 404, 200]);
  });

  it('gated or private without a token is HUB_AUTH_REQUIRED / MODEL_NOT_FOUND saying to set HF_TOKEN', async () => {
    await expect(CrossEncoder.load('org/gated')).rejects.toMatchObject({ code: 'HUB_AUTH_REQUIRED', message: expect.stringMatching(/HF_TOKEN/) });
    // The hub answers a private repo exactly as a missing one when no token is sent.
    await expect(CrossEncoder.load('org/private')).rejects.toMatchObject({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/private, set HF_TOKEN/) });
    expect(existsSync(join(cache, 'models--org--gated', 'snapshots'))).toBe(false);
  });

  it('a rejected token, or one without access to the gated repo, is HUB_ACCESS_DENIED; a granted one loads', async () => {
    process.env.HF_TOKEN = 'hf_unknown';
    expect(await codeOf(CrossEncoder.load('org/private'))).toBe('HUB_ACCESS_DENIED');
    process.env.HF_TOKEN = 'hf_other';
    await expect(CrossEncoder.load('org/gated')).rejects.toMatchObject({ code: 'HUB_ACCESS_DENIED', message: expect.stringMatching(/accept its terms/) });
    process.env.HF_TOKEN = 'hf_granted';
    expect(maxAbsDiff((await scores('org/gated')).scores, reference)).toBe(0);
    expect(maxAbsDiff((await scores('org/private')).scores, reference)).toBe(0);
    // The token goes to the hub, never to the CDN the LFS files are redirected to.
    const resolves = hub.requests.filter((r) => r.path.includes('/resolve/'));
    const cdn = hub.requests.filter((r) => r.path.startsWith('/cdn-lfs/'));
    expect(resolves.length).toBeGreaterThan(0);
    expect(cdn.length).toBeGreaterThan(0);
    expect(resolves.every((r) => r.authorized)).toBe(true);
    expect(cdn.some((r) => r.authorized)).toBe(false);
  });

  it('a token file (HF_TOKEN_PATH) is read like Python does', async () => {
    writeFileSync(join(scratch, 'token'), 'hf_granted\n');
    process.env.HF_TOKEN_PATH = join(scratch, 'token');
    expect((await scores('org/private')).info.hub?.repo).toBe('org/private');
  });

  it('a network failure after retries is HUB_UNREACHABLE; a cached revision still loads, like Python', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`;
    await expect(CrossEncoder.load('cross-encoder/tiny-ce')).rejects.toMatchObject({ code: 'HUB_UNREACHABLE', message: expect.stringMatching(/after 3 attempts/) });

    process.env.HF_ENDPOINT = hub.url;
    await scores('cross-encoder/tiny-ce');
    process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`;
    const cached = await scores('cross-encoder/tiny-ce');
    expect(cached.info.hub?.source).toBe('cache');
  });

  it('a hub that accepts but never answers costs one HF_HUB_ETAG_TIMEOUT, not a timeout per retry; a cached revision then loads', async () => {
    // A firewall that drops packets: the connection opens, no answer ever comes.
    const silent = createNetServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as AddressInfo).port;
    process.env.HF_HUB_ETAG_TIMEOUT = '1';
    try {
      process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`;
      let started = Date.now();
      await expect(CrossEncoder.load('cross-encoder/tiny-ce')).rejects.toMatchObject({ code: 'HUB_UNREACHABLE', message: expect.stringMatching(/after 1 attempt \(/) });
      expect(Date.now() - started).toBeLessThan(3000);

      process.env.HF_ENDPOINT = hub.url;
      await scores('cross-encoder/tiny-ce');
      process.env.HF_ENDPOINT = `http://127.0.0.1:${port}`;
      started = Date.now();
      const cached = await scores('cross-encoder/tiny-ce');
      expect(cached.info.hub?.source).toBe('cache');
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      delete process.env.HF_HUB_ETAG_TIMEOUT;
      silent.close();
    }
  });

  it('5xx answers are retried; a hub that keeps failing is HUB_UNREACHABLE', async () => {
    hub.failNext(2);
    expect((await resolveHubModel({ repo: 'cross-encoder/tiny-ce', revision: 'main' }, { retryDelayMs: 10 })).commit).toBe(commit);
    expect(hub.requests.slice(0, 3).map((r) => r.status)).toEqual([503, 503, 200]);
    hub.failNext(3);
    await expect(resolveHubModel({ repo: 'Xenova/tiny-ce', revision: 'main' }, { retryDelayMs: 10 })).rejects.toMatchObject({
      code: 'HUB_UNREACHABLE',
      message: expect.stringMatching(/kept failing \(HTTP 503\)/),
    });
  });

  it('a download cut short is retried once; cut twice it is DOWNLOAD_INCOMPLETE and never left as a complete file', async () => {
    const blobName = sha256(bert('model.onnx'));
    const storage = join(cache, 'models--cross-encoder--tiny-ce');
    hub.dropMidFile('onnx/model.onnx', 2);
    await expect(CrossEncoder.load('cross-encoder/tiny-ce')).rejects.toMatchObject({ code: 'DOWNLOAD_INCOMPLETE' });
    expect(existsSync(join(storage, 'blobs', blobName))).toBe(false);
    expect(existsSync(join(storage, 'snapshots', commit, 'onnx', 'model.onnx'))).toBe(false);
    // The partial bytes stay only as .incomplete, which offline mode does not take as the file.
    expect(readFileSync(join(storage, 'blobs', `${blobName}.incomplete`)).length).toBeLessThan(bert('model.onnx').length);
    process.env.HF_HUB_OFFLINE = '1';
    expect(await codeOf(CrossEncoder.load('cross-encoder/tiny-ce'))).toBe('HUB_OFFLINE');
    delete process.env.HF_HUB_OFFLINE;

    hub.dropMidFile('onnx/model.onnx', 1); // cut once: the retry completes it
    hub.clearLog();
    const healed = await scores('cross-encoder/tiny-ce');
    expect(maxAbsDiff(healed.scores, reference)).toBe(0);
    expect(hub.downloads().filter((r) => r.path.startsWith('/cdn-lfs/'))).toHaveLength(2);
    expect(sha256(readFileSync(join(storage, 'blobs', blobName)))).toBe(blobName);
    expect(existsSync(join(storage, 'blobs', `${blobName}.incomplete`))).toBe(false);
  });

  it('a stalled download counts as cut short (idle timeout), and is retried', async () => {
    hub.stallMidFile('onnx/model.onnx', 2);
    const started = Date.now();
    await expect(resolveHubModel({ repo: 'cross-encoder/tiny-ce', revision: 'main' }, { idleTimeoutMs: 300 })).rejects.toMatchObject({
      code: 'DOWNLOAD_INCOMPLETE',
      message: expect.stringMatching(/no data for 300 ms/),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    hub.stallMidFile('onnx/model.onnx', 1);
    const r = await resolveHubModel({ repo: 'cross-encoder/tiny-ce', revision: 'main' }, { idleTimeoutMs: 300 });
    expect(sha256(readFileSync(join(r.dir, r.file)))).toBe(sha256(bert('model.onnx')));
  });

  it('a cache that is not writable or a full disk is CACHE_NOT_WRITABLE', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'x');
    process.env.HF_HUB_CACHE = join(file, 'hub');
    await expect(CrossEncoder.load('cross-encoder/tiny-ce')).rejects.toMatchObject({ code: 'CACHE_NOT_WRITABLE', message: expect.stringMatching(/HF_HUB_CACHE/) });

    // Disk full: the download's .incomplete file leads to /dev/full, which refuses every write.
    process.env.HF_HUB_CACHE = cache;
    const blobs = join(cache, 'models--cross-encoder--tiny-ce', 'blobs');
    mkdirSync(blobs, { recursive: true });
    symlinkSync('/dev/full', join(blobs, `${sha256(bert('model.onnx'))}.incomplete`));
    await expect(CrossEncoder.load('cross-encoder/tiny-ce')).rejects.toMatchObject({ code: 'CACHE_NOT_WRITABLE', message: expect.stringMatching(/disk is full/) });
  });
});

describe('settings and ids', () => {
  it('reads HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HUB_CACHE and HF_HOME as Python does', () => {
    process.env.HF_ENDPOINT = 'http://mirror.example/';
    process.env.HF_HOME = join(scratch, 'home');
    delete process.env.HF_HUB_CACHE;
    process.env.HF_HUB_OFFLINE = 'YES';
    process.env.HF_TOKEN = 'hf_x';
    expect(hubSettings()).toEqual({ endpoint: 'http://mirror.example', token: 'hf_x', offline: true, cacheDir: join(scratch, 'home', 'hub') });
    process.env.HF_HUB_CACHE = join(scratch, 'elsewhere');
    process.env.HF_HUB_OFFLINE = '0';
    expect(hubSettings()).toMatchObject({ offline: false, cacheDir: join(scratch, 'elsewhere') });
  });

  it('an existing path is a folder; org/name[@rev] is a hub id; other names are folders', () => {
    expect(parseModelRef(BERT)).toEqual({ folder: BERT });
    expect(parseModelRef('cross-encoder/ms-marco-MiniLM-L6-v2')).toEqual({ hub: { repo: 'cross-encoder/ms-marco-MiniLM-L6-v2', revision: 'main' } });
    expect(parseModelRef('org/name@v2')).toEqual({ hub: { repo: 'org/name', revision: 'v2' } });
    expect(parseModelRef('org/name', 'abc')).toEqual({ hub: { repo: 'org/name', revision: 'abc' } });
    expect(parseModelRef('/no/such/folder')).toEqual({ folder: '/no/such/folder' });
    expect(parseModelRef('models/a/b')).toEqual({ folder: 'models/a/b' });
    expect(parseModelRef('org/bad--name')).toEqual({ folder: 'org/bad--name' });
    // A mistyped relative folder is a folder (MODEL_NOT_FOUND), not a hub request.
    expect(parseModelRef('./nope')).toEqual({ folder: './nope' });
    expect(parseModelRef('../nope')).toEqual({ folder: '../nope' });
    expect(parseModelRef('-org/name')).toEqual({ folder: '-org/name' });
    expect(() => parseModelRef('org/name@')).toThrow(CrossrankError);
  });
});

describe('resolveHubModel', () => {
  it('resolves without loading, and the emulator serves the tree route @huggingface/hub lists', async () => {
    const r = await resolveHubModel({ repo: 'cross-encoder/tiny-ce', revision: 'main' });
    expect(r).toMatchObject({ commit, file: 'onnx/model.onnx', source: 'hub' });
    expect(r.downloaded.sort()).toEqual([...CE_SIDE, 'onnx/model.onnx'].sort());
    const { listFiles } = await import('@huggingface/hub');
    const listed: string[] = [];
    for await (const f of listFiles({ repo: 'cross-encoder/tiny-ce', recursive: true, hubUrl: hub.url })) if (f.type === 'file') listed.push(f.path);
    expect(listed.sort()).toEqual(Object.keys(CE_FILES).sort());
  });
});

describe('the CLI takes hub ids', () => {
  it('info reports repo, commit and file; rerank shows a download progress bar', async () => {
    const env = { ...process.env, CROSSRANK_PROGRESS: '1' };
    const rerank = await run(process.execPath, [CLI, 'rerank', '--model', 'cross-encoder/tiny-ce', '--revision', 'v1', '--query', 'q', 'doc one', 'doc two'], { env, timeout: 60_000 });
    expect(rerank.stdout).toMatch(new RegExp(`model: cross-encoder/tiny-ce@v1 \\(commit ${commit.slice(0, 12)}, onnx/model\\.onnx\\)`));
    expect(rerank.stdout).toMatch(/1\. -?\d\.\d{4} {2}\[\d\] doc/);
    expect(rerank.stderr).toMatch(/downloading \[.*\] 100% \| [\d.]+ MB of [\d.]+ MB \| [\d.]+ MB\/s/);
    const info = await run(process.execPath, [CLI, 'info', '--model', 'cross-encoder/tiny-ce@v1'], { env: { ...env, HF_HUB_OFFLINE: '1' }, timeout: 60_000 });
    expect(JSON.parse(info.stdout).hub).toEqual({ repo: 'cross-encoder/tiny-ce', revision: 'v1', commit, file: 'onnx/model.onnx', source: 'cache' });
    expect(info.stderr).toBe('');
    const bad = await run(process.execPath, [CLI, 'info', '--model', 'org/does-not-exist'], { env, timeout: 60_000 }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[MODEL_NOT_FOUND\]/);
  });

  it('bench/leaderboard.mjs takes hub ids', async () => {
    const root = mkdtempSync(join(scratch, 'leaderboard-'));
    for (const d of ['data', 'runs']) mkdirSync(join(root, d));
    cpSync(join(FIXTURES, 'beir-tiny'), join(root, 'data', 'beir-tiny'), { recursive: true });
    cpSync(join(FIXTURES, 'beir-tiny', 'run.bm25.trec'), join(root, 'runs', 'beir-tiny.trec'));
    await run(
      process.execPath,
      [join(ROOT, 'bench', 'leaderboard.mjs'), '--model', 'cross-encoder/tiny-ce', '--data', join(root, 'data'), '--runs', join(root, 'runs'), '--out', join(root, 'out'), '--top-k', '20'],
      { env: process.env, timeout: 120_000 },
    );
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'beir-tiny', 'expected.json'), 'utf8'));
    expect(readFileSync(join(root, 'out', 'leaderboard.md'), 'utf8')).toContain(`| tiny-ce | ${expected.reranked.mean.ndcg10.toFixed(3)} |`);
  });

  it('npm run example loads the hub id, and without network falls back to the fixture model saying why', async () => {
    const example = join(ROOT, 'examples', 'quickstart.mjs');
    hub.addRepo('cross-encoder/ms-marco-MiniLM-L6-v2', CE_FILES);
    const online = await run(process.execPath, [example], { env: process.env, timeout: 60_000 });
    expect(online.stdout).toMatch(/^model: cross-encoder\/ms-marco-MiniLM-L6-v2 \(commit [0-9a-f]{12}, onnx\/model\.onnx\)$/m);
    expect(online.stdout).not.toMatch(/Falling back/);
    const offline = await run(process.execPath, [example], { env: { ...process.env, HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: join(scratch, 'empty-cache') }, timeout: 60_000 });
    expect(offline.stdout).toMatch(/cannot load cross-encoder\/ms-marco-MiniLM-L6-v2 from the hub \(HUB_UNREACHABLE/);
    expect(offline.stdout).toMatch(/Falling back to the bundled TEST model/);
    expect(offline.stdout).toMatch(/^ {2}1\. /m);
  });

  it('convert --model ID fetches the PyTorch files with Python into the same cache', async () => {
    const out = join(scratch, 'converted');
    const result = await run(process.execPath, [CLI, 'convert', '--model', 'org/no-onnx', '--out', out, '--python', PYTHON], {
      env: { ...process.env, HF_HUB_DISABLE_XET: '1' },
      timeout: 120_000,
    }).then(
      () => 0,
      (e: { code: number }) => e.code,
    );
    // The weights are 64 zero bytes, so the conversion itself fails; the download is what is checked.
    expect(result).not.toBe(0);
    expect(hub.downloads().map((r) => r.path)).toContain(`/cdn-lfs/${sha256(Buffer.alloc(64))}`);
    expect(readdirSync(join(cache, 'models--org--no-onnx', 'snapshots')).length).toBe(1);
  });
});
