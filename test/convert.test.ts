// crossrank convert (Python from PyPI: torch, transformers, onnx, onnxruntime; .ci/run installs
// them in .venv). The source is the bert-tiny fixture rebuilt in PyTorch from its seed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { FIXTURES, PYTHON, flat, golden, maxAbsDiff, parityPairs } from './helpers.js';

const root = join(__dirname, '..');
let source: string;

function convert(out: string, ...extra: string[]) {
  return spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'convert', '--model', source, '--out', out, '--python', PYTHON, ...extra], {
    encoding: 'utf8',
    timeout: 300_000,
  });
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'crossrank-hf-'));
  const build = spawnSync(
    PYTHON,
    ['-c', `import sys; from pathlib import Path; sys.path.insert(0, ${JSON.stringify(FIXTURES)}); import generate; d = Path(${JSON.stringify(dir)}); (d / "t").mkdir(); print(generate.make_bert(d / "t", d / "hf")[0])`],
    { encoding: 'utf8', timeout: 300_000 },
  );
  expect(build.status, build.stderr).toBe(0);
  source = build.stdout.trim().split('\n').pop()!;
}, 300_000);

describe('crossrank convert', () => {
  it('writes fp32, optimized, fp16 and int8 ONNX files, each checked; the fp32 one reproduces sentence-transformers', async () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(out);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    for (const name of ['fp32', 'optimized', 'fp16', 'int8']) {
      expect(report.outputs[name].passed, name).toBe(true);
      expect(existsSync(join(out, report.outputs[name].file)), name).toBe(true);
    }
    expect(run.stderr).toMatch(/fp16 +max\|diff\|/);

    const { pairs } = parityPairs();
    const g = golden('bert-tiny');
    for (const [file, tolerance] of [['onnx/model.onnx', 1e-4], ['onnx/model_optimized.onnx', 1e-3]] as const) {
      const model = await CrossEncoder.load(out, { modelFile: file });
      expect(maxAbsDiff(await model.predict(pairs), flat(g.scores)), file).toBeLessThanOrEqual(tolerance);
      await model.close();
    }
    for (const file of ['onnx/model_fp16.onnx', 'onnx/model_quantized.onnx']) {
      const model = await CrossEncoder.load(out, { modelFile: file });
      const scores = await model.predict(pairs.slice(0, 50));
      expect(scores.every((s) => Number.isFinite(s)), file).toBe(true);
      await model.close();
    }
  }, 300_000);

  it('does not write an output that fails its bounds, and exits 1', () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(out, '--no-optimize', '--no-fp16', '--bounds', '{"int8": {"spearman": 1.5}}');
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/int8 .*FAILED \(not written\)/);
    expect(existsSync(join(out, 'onnx', 'model_quantized.onnx'))).toBe(false);
    expect(existsSync(join(out, 'onnx', 'model.onnx'))).toBe(true);
  }, 300_000);

  it('refuses a folder that is not a Hugging Face model', () => {
    const run = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'convert', '--model', tmpdir(), '--out', mkdtempSync(join(tmpdir(), 'x-')), '--python', PYTHON], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/no config\.json/);
  });
});
