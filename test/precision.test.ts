// precision 'auto' (issue 25): the rule alone (lib/hub/precision.ts choosePrecision, every input
// injected), then end to end on a folder `crossrank convert` made from the bert-tiny fixture, and
// the command line's --precision auto.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import type { CpuFeatures } from '../lib/hub/choose.js';
import { DEFAULT_BOUNDS, DEFAULT_PARITY_PAIRS, FP32_MAX_ABS_DIFF, INT8_PAYS, type PrecisionInputs, autoDevice, choosePrecision, decideFolderPrecision, fusedFp32File } from '../lib/hub/precision.js';
import { parseServeArgs } from '../lib/serve/index.js';
import { FIXTURES, PYTHON } from './helpers.js';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist', 'cli.js');

const VNNI: CpuFeatures = { arm64: false, avx512vnni: true, avx512: true, avx2: true, avxvnni: false };
const AVX2: CpuFeatures = { arm64: false, avx512vnni: false, avx512: false, avx2: true };
const ARM: CpuFeatures = { arm64: true, avx512vnni: false, avx512: false, avx2: false };
const INT8 = 'onnx/model_quantized.onnx';
const FP16 = 'onnx/model_fp16.onnx';
const FILES = ['config.json', 'crossrank_convert.json', 'onnx/model.onnx', FP16, INT8, 'tokenizer.json'];

/** A crossrank_convert.json as convert writes it at its default bounds, with passing figures. */
function record(over: { int8?: Record<string, unknown>; fp16?: Record<string, unknown>; top?: Record<string, unknown> } = {}) {
  return {
    parity_pairs: 512,
    int8_vocab_pairs: 800,
    model_type: 'bert',
    ...over.top,
    outputs: {
      fp32: { passed: true, file: 'onnx/model.onnx', max_abs_diff: 1e-6 },
      fp16: { passed: true, file: FP16, spearman: 0.9999, top10_overlap: 1, bounds: { spearman: 0.999, top10_overlap: 0.99 }, ...over.fp16 },
      int8: {
        passed: true,
        file: INT8,
        spearman_min: 0.995,
        top10_min: 0.9,
        batch_dependence: 0,
        bounds: { spearman_min: 0.99, top10_min: 0.9, batch_dependence: 1e-5 },
        ...over.int8,
      },
    },
  };
}

const MINILM_L6 = { hiddenSize: 384, layers: 6 };
const base = (over: Partial<PrecisionInputs> = {}): PrecisionInputs => ({ files: FILES, record: record(), shape: MINILM_L6, device: 'cpu', cpu: VNNI, ...over });

describe("precision 'auto': the rule (choosePrecision)", () => {
  it('int8 on a VNNI CPU for a MiniLM-L6 shape whose int8 file passed convert at the default bounds', () => {
    const d = choosePrecision(base());
    expect(d).toMatchObject({ chosen: 'int8', file: INT8 });
    expect(d.reason).toMatch(/AVX-512 VNNI/);
    expect(d.reason).toMatch(/hidden size 384 with 6 layers/);
    // AVX-VNNI (the 256-bit form, which ONNX Runtime's integer kernels also use) counts too.
    expect(choosePrecision(base({ cpu: { ...AVX2, avxvnni: true } })).chosen).toBe('int8');
  });

  it('fp32 when the int8 file passed only relaxed bounds (crossrank convert --bounds)', () => {
    const d = choosePrecision(base({ record: record({ int8: { bounds: { spearman_min: 0.95, top10_min: 0.7, batch_dependence: 1e-5 } } }) }));
    expect(d).toMatchObject({ chosen: 'fp32', file: undefined });
    expect(d.reason).toMatch(/relaxed bounds \(spearman_min 0\.95 instead of 0\.99/);
    // A bound convert did not check at all is relaxed too.
    expect(choosePrecision(base({ record: record({ int8: { bounds: { spearman_min: 0.99, top10_min: 0.9 } } }) })).reason).toMatch(/batch_dependence not checked/);
  });

  it('fp32 with no convert record, a refused or missing int8 file, a small parity set, or figures short of the defaults', () => {
    expect(choosePrecision(base({ record: undefined })).reason).toMatch(/no crossrank_convert\.json/);
    expect(choosePrecision(base({ record: record({ int8: { passed: false } }) })).reason).toMatch(/refused the int8 file/);
    expect(choosePrecision(base({ files: FILES.filter((f) => f !== INT8) })).reason).toMatch(/not in the folder/);
    expect(choosePrecision(base({ record: record({ top: { parity_pairs: 32 } }) })).reason).toMatch(/32 parity pairs, fewer than convert's default 512/);
    // int8 must also have been judged on convert's random-vocabulary lists (older records were not)
    expect(choosePrecision(base({ record: record({ top: { int8_vocab_pairs: 200 } }) })).reason).toMatch(/200 random-vocabulary pairs, fewer than convert's default 800/);
    expect(choosePrecision(base({ record: record({ top: { int8_vocab_pairs: undefined } }) })).reason).toMatch(/predates random-vocabulary lists/);
    expect(choosePrecision(base({ record: record({ int8: { top10_min: 0.8 } }) })).reason).toMatch(/top10_min \(0\.8\) misses the default bound 0\.9/);
    for (const r of [undefined, record({ int8: { passed: false } })]) expect(choosePrecision(base({ record: r })).chosen).toBe('fp32');
  });

  it("never picks the hub's ungated int8 files (no record names them)", () => {
    const hub = ['config.json', 'onnx/model.onnx', 'onnx/model_qint8_avx512_vnni.onnx', 'onnx/model_quantized.onnx', 'tokenizer.json'];
    expect(choosePrecision(base({ files: hub, record: undefined }))).toMatchObject({ chosen: 'fp32', file: undefined });
  });

  it('fp32 for a batch-dependent int8 file (dynamic quantization in its graph)', () => {
    expect(choosePrecision(base({ int8BatchDependent: true })).reason).toMatch(/quantizes activations per batch/);
    expect(choosePrecision(base({ record: record({ int8: { batch_dependence: 3e-4 } }) })).chosen).toBe('fp32');
  });

  it('fp32 on a CPU without VNNI, and on arm64 (not measured)', () => {
    expect(choosePrecision(base({ cpu: AVX2 })).reason).toMatch(/neither AVX-512 VNNI nor AVX-VNNI/);
    expect(choosePrecision(base({ cpu: ARM })).reason).toMatch(/not measured on arm64/);
  });

  it(`fp32 for shapes where int8 was measured not to pay (below hidden ${INT8_PAYS.minHiddenSize} or ${INT8_PAYS.minLayers} layers)`, () => {
    const tiny = choosePrecision(base({ shape: { hiddenSize: 128, layers: 2 } }));
    expect(tiny.chosen).toBe('fp32');
    expect(tiny.reason).toMatch(/measured not to pay for this shape \(hidden size 128, 2 layers/);
    expect(choosePrecision(base({ shape: { hiddenSize: 384, layers: INT8_PAYS.minLayers - 1 } })).chosen).toBe('fp32');
    expect(choosePrecision(base({ shape: { hiddenSize: 768, layers: 12 } })).chosen).toBe('int8');
    expect(choosePrecision(base({ shape: { hiddenSize: undefined, layers: 6 } })).reason).toMatch(/no hidden_size/);
  });

  it('fp32 for an LLM reranker', () => {
    expect(choosePrecision(base({ record: record({ top: { kind: 'causal-lm' } }) })).reason).toMatch(/LLM reranker/);
  });

  it('cuda: fp16 when its file passed convert at the default bounds, else fp32', () => {
    expect(choosePrecision(base({ device: 'cuda' }))).toMatchObject({ chosen: 'fp16', file: FP16 });
    expect(choosePrecision(base({ device: 'cuda', record: undefined })).chosen).toBe('fp32');
    expect(choosePrecision(base({ device: 'cuda', record: record({ fp16: { passed: false } }) })).chosen).toBe('fp32');
    expect(choosePrecision(base({ device: 'cuda', record: record({ fp16: { bounds: { spearman: 0.99, top10_overlap: 0.99 } } }) })).reason).toMatch(/relaxed bounds/);
    // The hub's O4 graph (fp16, never checked) is not taken.
    expect(choosePrecision(base({ device: 'cuda', record: undefined, files: ['onnx/model.onnx', 'onnx/model_O4.onnx'] })).chosen).toBe('fp32');
  });

  it('fp32 loads the fused file convert vouched for within fp32\'s bound, on every path to fp32', () => {
    const FUSED = 'onnx/model_optimized.onnx';
    const withFused = (optimized: Record<string, unknown>) => {
      const r = record() as ReturnType<typeof record> & { outputs: Record<string, unknown> };
      return { ...r, outputs: { ...r.outputs, optimized: { passed: true, file: FUSED, max_abs_diff: 2.3e-5, ...optimized } } };
    };
    const files = [...FILES, FUSED];
    expect(fusedFp32File(withFused({}), files)).toBe(FUSED);
    // Not vouched: convert refused it, it is not in the folder, or it passed only convert's looser 1e-3.
    expect(fusedFp32File(withFused({ passed: false }), files)).toBeUndefined();
    expect(fusedFp32File(withFused({}), FILES)).toBeUndefined();
    expect(fusedFp32File(withFused({ max_abs_diff: 4e-4 }), files)).toBeUndefined();
    expect(fusedFp32File(withFused({ max_abs_diff: undefined }), files)).toBeUndefined();
    expect(fusedFp32File(undefined, files)).toBeUndefined();
    expect(fusedFp32File(record(), files)).toBeUndefined();
    // 'auto' decisions that end in fp32 carry the fused file and say so; int8 and fp16 are unchanged.
    for (const over of [{ cpu: AVX2 }, { device: 'cuda' as const, record: { ...withFused({}), outputs: { ...withFused({}).outputs, fp16: { passed: false } } } }, { device: 'auto' as const }]) {
      const d = choosePrecision(base({ files, record: withFused({}), ...over }));
      expect(d, JSON.stringify(over)).toMatchObject({ chosen: 'fp32', file: FUSED });
      expect(d.reason).toMatch(/model_optimized\.onnx, the fp32 graph with attention and LayerNorm fused, which crossrank convert checked within 1e-4 of PyTorch/);
    }
    expect(choosePrecision(base({ files, record: withFused({}) }))).toMatchObject({ chosen: 'int8', file: INT8 });
    expect(choosePrecision(base({ files, record: withFused({ max_abs_diff: 4e-4 }), cpu: AVX2 })).file).toBeUndefined();
  });

  it("device 'auto' with a CUDA provider installed: fp32 (the device is known only when the session starts); without one the CPU rule", () => {
    expect(choosePrecision(base({ device: autoDevice('auto', true) })).reason).toMatch(/device 'auto'/);
    expect(choosePrecision(base({ device: autoDevice('auto', false) })).chosen).toBe('int8');
  });

  it("DEFAULT_BOUNDS and the default parity set agree with lib/python/convert.py's", () => {
    const py = readFileSync(join(ROOT, 'lib', 'python', 'convert.py'), 'utf8');
    expect(py).toContain(`"int8": {"spearman_min": ${DEFAULT_BOUNDS.int8.spearman_min.min}, "top10_min": ${DEFAULT_BOUNDS.int8.top10_min.min.toFixed(2)}, "batch_dependence": ${DEFAULT_BOUNDS.int8.batch_dependence.max.toExponential()}}`);
    expect(py).toContain(`"fp32": {"max_abs_diff": ${FP32_MAX_ABS_DIFF.toExponential()}}`);
    expect(py).toContain(`"fp16": {"spearman": ${DEFAULT_BOUNDS.fp16.spearman.min}, "top10_overlap": ${DEFAULT_BOUNDS.fp16.top10_overlap.min}}`);
    const queries = /"--queries", type=int, default=(\d+)/.exec(py)?.[1];
    const docs = /"--docs", type=int, default=(\d+)/.exec(py)?.[1];
    expect(Number(queries) * Number(docs)).toBe(DEFAULT_PARITY_PAIRS);
  });
});

describe('on a folder crossrank convert made', () => {
  // A folder `crossrank convert` made from the bert-tiny fixture (its random weights need relaxed
  // int8 rank bounds, as in test/convert.test.ts; a small parity set keeps it short), and copies of
  // it with the record edited.
  let converted: string;
  beforeAll(() => {
    const hf = mkdtempSync(join(tmpdir(), 'crossrank-auto-hf-'));
    const script = `
import sys
from pathlib import Path
sys.path.insert(0, ${JSON.stringify(FIXTURES)})
import generate
d = Path(${JSON.stringify(hf)})
(d / "bert-tiny").mkdir()
print(generate.make_bert(d / "bert-tiny", d / "hf")[0])
`;
    const build = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', timeout: 300_000 });
    expect(build.status, build.stderr).toBe(0);
    const source = build.stdout.trim().split('\n').pop()!;
    converted = mkdtempSync(join(tmpdir(), 'crossrank-auto-converted-'));
    const run = spawnSync(
      process.execPath,
      [CLI, 'convert', '--model', source, '--out', converted, '--python', PYTHON, '--no-optimize', '--no-fp16', '--bounds', '{"int8": {"spearman_min": 0.95, "top10_min": 0.7}}', '--', '--queries', '4', '--docs', '8'],
      { encoding: 'utf8', timeout: 900_000 },
    );
    expect(run.status, run.stderr).toBe(0);
  }, 1_200_000);

  /** A copy of the converted folder with its record's int8 bounds and parity set made the defaults (as if it had passed them) and config.json's shape replaced. */
  function gatedCopy(shape?: { hidden_size: number; num_hidden_layers: number }): string {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-auto-gated-'));
    cpSync(converted, dir, { recursive: true });
    const path = join(dir, 'crossrank_convert.json');
    const r = JSON.parse(readFileSync(path, 'utf8'));
    r.parity_pairs = 512;
    r.int8_vocab_pairs = 800;
    r.outputs.int8.bounds = { spearman_min: 0.99, top10_min: 0.9, batch_dependence: 1e-5 };
    r.outputs.int8.spearman_min = Math.max(r.outputs.int8.spearman_min, 0.99);
    r.outputs.int8.top10_min = Math.max(r.outputs.int8.top10_min, 0.9);
    writeFileSync(path, JSON.stringify(r));
    if (shape) {
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, ...shape }));
    }
    return dir;
  }

  describe("precision 'auto' end to end", () => {
    it('loads fp32 from a folder whose int8 file passed only relaxed bounds, and info says why', async () => {
      const model = await CrossEncoder.load(converted, { precision: 'auto' });
      try {
        expect(model.info.modelPath).toBe(join(converted, 'onnx', 'model.onnx'));
        expect(model.info.precisionChoice).toEqual({ requested: 'auto', chosen: 'fp32', reason: expect.stringMatching(/^fp32: .*relaxed bounds/) });
      } finally {
        await model.close();
      }
    });

    it("the reason follows the folder, the model's shape and this CPU", async () => {
      // bert-tiny's own shape (hidden 32): int8 does not pay, or this CPU lacks VNNI, whichever is checked first.
      const small = gatedCopy();
      const decision = await decideFolderPrecision(small, ['config.json', 'crossrank_convert.json', 'onnx/model.onnx', INT8], 'cpu');
      const model = await CrossEncoder.load(small, { precision: 'auto' });
      try {
        expect(model.info.precisionChoice).toEqual({ requested: 'auto', chosen: 'fp32', reason: decision.reason });
        expect(decision.reason).toMatch(/measured not to pay for this shape|neither AVX-512 VNNI|arm64/);
      } finally {
        await model.close();
      }
      // The same files with a MiniLM-L6 shape in config.json (the rule reads the shape from there;
      // the graph stays bert-tiny's): int8 on a CPU with VNNI, fp32 elsewhere, and info says which.
      const large = gatedCopy({ hidden_size: 384, num_hidden_layers: 6 });
      const expected = await decideFolderPrecision(large, ['config.json', 'crossrank_convert.json', 'onnx/model.onnx', INT8], 'cpu');
      const int8 = await CrossEncoder.load(large, { precision: 'auto' });
      try {
        expect(int8.info.precisionChoice).toEqual({ requested: 'auto', chosen: expected.chosen, reason: expected.reason });
        expect(int8.info.modelPath).toBe(join(large, expected.chosen === 'int8' ? INT8 : 'onnx/model.onnx'));
        const forced = await decideFolderPrecision(large, ['config.json', 'crossrank_convert.json', 'onnx/model.onnx', INT8], 'cpu', { cpu: VNNI });
        expect(forced).toMatchObject({ chosen: 'int8', file: INT8 });
        expect(forced.reason).toMatch(/batch-independent/);
        expect(int8.info.batchDependent).toBe(false);
        expect((await int8.predict([['q', 'd']])).length).toBe(1);
      } finally {
        await int8.close();
      }
    });

    it('explicit precisions and the default say so; modelFile leaves precisionChoice out', async () => {
      const fp32 = await CrossEncoder.load(converted);
      expect(fp32.info.precisionChoice).toEqual({ requested: 'fp32', chosen: 'fp32', reason: 'fp32: the default precision (onnx/model.onnx)' });
      await fp32.close();
      const int8 = await CrossEncoder.load(converted, { precision: 'int8' });
      expect(int8.info.precisionChoice).toEqual({ requested: 'int8', chosen: 'int8', reason: `int8: asked for (${INT8})` });
      await int8.close();
      const named = await CrossEncoder.load(converted, { precision: 'auto', modelFile: INT8 });
      expect(named.info.precisionChoice).toBeUndefined();
      expect(named.info.modelPath).toBe(join(converted, INT8));
      await named.close();
    });

    it('a bad precision is INVALID_ARGUMENT naming the option and listing auto', async () => {
      await expect(CrossEncoder.load(converted, { precision: 'fastest' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/options\.precision .*"auto"/) });
    });
  });

  describe('--precision auto on the command line', () => {
    const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HF_HUB_OFFLINE: '1' } });

    it('info and rerank take it; info prints the choice and its reason', () => {
      const info = cli('info', '--model', converted, '--precision', 'auto');
      expect(info.status, info.stderr).toBe(0);
      expect(JSON.parse(info.stdout).precisionChoice).toMatchObject({ requested: 'auto', chosen: 'fp32', reason: expect.stringMatching(/relaxed bounds/) });
      const rerank = cli('rerank', '--model', converted, '--precision', 'auto', '--query', 'q', 'a', 'b');
      expect(rerank.status, rerank.stderr).toBe(0);
    });

    it('bad values are INVALID_ARGUMENT naming --precision (rerank, download, serve)', () => {
      const rerank = cli('rerank', '--model', converted, '--precision', 'fastest', '--query', 'q', 'a');
      expect(rerank.status).toBe(1);
      expect(rerank.stderr).toContain('[INVALID_ARGUMENT]');
      expect(rerank.stderr).toMatch(/--precision must be one of .*"auto"/);
      const download = cli('download', '--model', 'org/name', '--precision', 'fastest');
      expect(download.status).toBe(1);
      expect(download.stderr).toContain('--precision must be fp32, fp16, int8, q4 or auto, received "fastest"');
      expect(() => parseServeArgs(['--model', 'x', '--precision', 'fastest'])).toThrow(/--precision must be fp32, fp16, int8, q4 or auto/);
    });

    it('serve reads --precision auto and CROSSRANK_PRECISION=auto', () => {
      expect(parseServeArgs(['--model', 'x', '--precision', 'auto'], {})).toMatchObject({ precision: 'auto' });
      expect(parseServeArgs(['--model', 'x'], { CROSSRANK_PRECISION: 'auto' })).toMatchObject({ precision: 'auto' });
    });
  });
});
