// crossrank convert (Python from PyPI: torch, transformers, onnx, onnxruntime; .ci/run installs
// them in .venv). The sources are the fixture models rebuilt in PyTorch from their seeds: bert-tiny
// (test/fixtures/generate.py) and every family of test/fixtures/generate_families.py.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { onnxOpTypes } from '../lib/model/onnx-graph.js';
import { FIXTURES, PYTHON, flat, golden, maxAbsDiff, parityPairs } from './helpers.js';

const root = join(__dirname, '..');
const FAMILIES = ['deberta-v3-tiny', 'modernbert-tiny', 'distilbert-tiny', 'mpnet-tiny', 'camembert-tiny', 'albert-tiny'] as const;
let sources: Record<string, string>;
const RELAXED_INT8 = '{"int8": {"spearman_min": 0.95, "top10_min": 0.7}}';

function convert(source: string, out: string, ...extra: string[]) {
  return spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'convert', '--model', source, '--out', out, '--python', PYTHON, ...extra], {
    encoding: 'utf8',
    timeout: 300_000,
  });
}

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'crossrank-hf-'));
  const script = `
import json, sys
from pathlib import Path
sys.path.insert(0, ${JSON.stringify(FIXTURES)})
import generate, generate_families
d = Path(${JSON.stringify(dir)})
out = {}
(d / "bert-tiny").mkdir()
out["bert-tiny"] = str(generate.make_bert(d / "bert-tiny", d / "hf")[0])
for name in generate_families.FAMILIES:
    (d / name).mkdir()
    out[name] = str(generate_families.make_family(name, d / name, d / "hf", generate_families.MODELS / name))
print(json.dumps(out))
`;
  const build = spawnSync(PYTHON, ['-c', script], { encoding: 'utf8', timeout: 300_000 });
  expect(build.status, build.stderr).toBe(0);
  sources = JSON.parse(build.stdout.trim().split('\n').pop()!);
}, 300_000);

describe('crossrank convert', () => {
  it('writes fp32, optimized, fp16 and int8 ONNX files, each checked; the fp32 one reproduces sentence-transformers', async () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    // bert-tiny's random weights leave near-ties in its lists, so the int8 rank bounds are relaxed
    // for it (a trained model is judged at the defaults: bench/results/int8-study.md); the
    // batch-independence bound stays at its default 1e-5.
    const run = convert(sources['bert-tiny']!, out, '--bounds', RELAXED_INT8);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    for (const name of ['fp32', 'optimized', 'fp16', 'int8']) {
      expect(report.outputs[name].passed, name).toBe(true);
      expect(existsSync(join(out, report.outputs[name].file)), name).toBe(true);
    }
    // int8 is judged on 8 random-vocabulary lists of 100 passages too (convert.py vocab_lists),
    // its own figures kept beside the combined ones, which cover every list
    expect(report.int8_vocab_pairs).toBe(800);
    expect(report.outputs.int8.vocab_lists).toMatchObject({ lists: 8, pairs: 800 });
    expect(report.outputs.int8.spearman_min).toBeLessThanOrEqual(report.outputs.int8.vocab_lists.spearman_min);
    expect(report.outputs.fp16.vocab_lists).toBeUndefined();
    expect(run.stderr).toMatch(/int8 .*\[random-vocabulary lists: spearman min 0\.\d+, top-10 min [01]\.\d\d\]/);
    expect(run.stderr).toMatch(/fp16 +max\|diff\|/);
    // int8 is per-token: batch-independent (measured by convert), no dynamic quantization operator.
    expect(report.outputs.int8.batch_dependence).toBeLessThanOrEqual(1e-5);
    expect(report.outputs.int8.bounds.batch_dependence).toBe(1e-5);
    expect(report.int8_quantization.method).toMatch(/^per-token/);
    const ops = await onnxOpTypes(join(out, 'onnx', 'model_quantized.onnx'));
    expect(ops.get('com.microsoft.MatMulIntegerToFloat')).toBeGreaterThan(0);
    expect([...ops.keys()].some((op) => /DynamicQuantize/.test(op))).toBe(false);
    // Eager-attention export (issue 25): no per-layer IsNaN/Where mask ops as SDPA's trace had, and an
    // attention onnxruntime.transformers fuses; the int8 file is made from that fused graph, its
    // attention one MultiHeadAttention kernel per layer after int8 Q/K/V projections.
    expect((await onnxOpTypes(join(out, 'onnx', 'model.onnx'))).get('IsNaN') ?? 0).toBe(0);
    expect((await onnxOpTypes(join(out, 'onnx', 'model_optimized.onnx'))).get('com.microsoft.Attention')).toBeGreaterThan(0);
    expect(report.int8_quantization.source).toBe('onnx/model_optimized.onnx');
    expect(ops.get('com.microsoft.MultiHeadAttention')).toBeGreaterThan(0);
    // The staging folder is gone.
    expect(readdirSync(out).filter((f) => f.startsWith('.crossrank-convert-'))).toEqual([]);

    const { pairs } = parityPairs();
    const g = golden('bert-tiny');
    for (const [file, tolerance] of [['onnx/model.onnx', 1e-4], ['onnx/model_optimized.onnx', 1e-3]] as const) {
      const model = await CrossEncoder.load(out, { modelFile: file });
      expect(maxAbsDiff(await model.predict(pairs), flat(g.scores)), file).toBeLessThanOrEqual(tolerance);
      await model.close();
    }
    // fp32 without a file named loads the fused graph convert vouched for (within fp32's 1e-4 of
    // PyTorch), and matches sentence-transformers as model.onnx does.
    expect(report.outputs.optimized.max_abs_diff).toBeLessThanOrEqual(1e-4);
    const fp32 = await CrossEncoder.load(out);
    expect(fp32.info.modelPath).toBe(join(out, 'onnx', 'model_optimized.onnx'));
    expect(fp32.info.precisionChoice?.reason).toMatch(/^fp32: the default precision \(onnx\/model_optimized\.onnx, the fp32 graph with attention and LayerNorm fused/);
    expect(maxAbsDiff(await fp32.predict(pairs), flat(g.scores))).toBeLessThanOrEqual(1e-4);
    await fp32.close();
    for (const file of ['onnx/model_fp16.onnx', 'onnx/model_quantized.onnx']) {
      const model = await CrossEncoder.load(out, { modelFile: file });
      const scores = await model.predict(pairs.slice(0, 50));
      expect(scores.every((s) => Number.isFinite(s)), file).toBe(true);
      await model.close();
    }
  }, 300_000);

  it.each(FAMILIES)('converts %s: fp32 checked against PyTorch, the graph takes the inputs the model embeds, crossrank then matches the goldens', async (name) => {
    const out = mkdtempSync(join(tmpdir(), `crossrank-converted-${name}-`));
    const run = convert(sources[name]!, out, '--no-optimize', '--no-fp16', '--no-int8', '--', '--queries', '4', '--docs', '8');
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/Traceback/);
    const g = JSON.parse(readFileSync(join(FIXTURES, 'goldens', `${name}.json`), 'utf8')) as {
      ref_logits: number[];
      token_type_ids_input: boolean;
    };
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    expect(report.outputs.fp32.passed).toBe(true);
    // DeBERTa-v3 (type_vocab_size 0) has no token types; ALBERT keeps them under transformers 5.
    expect(report.inputs.includes('token_type_ids')).toBe(g.token_type_ids_input);
    const model = await CrossEncoder.load(out);
    try {
      expect(model.info.inputs.includes('token_type_ids')).toBe(g.token_type_ids_input);
      const pairs = parityPairs().pairs.slice(0, 80);
      const logits = await model.predict(pairs, { activation: 'identity' });
      expect(maxAbsDiff(logits, g.ref_logits.slice(0, 80))).toBeLessThanOrEqual(1e-4);
    } finally {
      await model.close();
    }
  }, 300_000);

  it('a refused variant: fp32 is written, the variant is not, and the exit status is 3 (not 1)', () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    // Files an earlier conversion left: this run writes neither, so neither may stay to be loaded.
    mkdirSync(join(out, 'onnx'));
    writeFileSync(join(out, 'onnx', 'model_quantized.onnx'), 'stale');
    writeFileSync(join(out, 'onnx', 'model_fp16.onnx'), 'stale');
    const run = convert(sources['bert-tiny']!, out, '--no-optimize', '--no-fp16', '--bounds', '{"int8": {"spearman_min": 1.5}}');
    expect(run.status).toBe(3);
    expect(run.stderr).toMatch(/int8 .*FAILED \(not written\): spearman_min 0\.\d+ < 1\.5/);
    expect(run.stderr).toMatch(/removed onnx\/model_fp16\.onnx left by an earlier conversion/);
    expect(existsSync(join(out, 'onnx', 'model_fp16.onnx'))).toBe(false);
    expect(run.stderr).toMatch(/refused \(not written\): int8/);
    expect(existsSync(join(out, 'onnx', 'model_quantized.onnx'))).toBe(false);
    expect(existsSync(join(out, 'onnx', 'model.onnx'))).toBe(true);
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    expect(report.refused).toEqual(['int8']);
    expect(report.outputs.int8.failed).toContainEqual(expect.stringMatching(/^spearman_min 0\.\d+ < 1\.5$/));
    // The default top-10 bound is 0.90 (one near-tie swap across the cut), the others stay.
    expect(report.outputs.int8.bounds).toEqual({ spearman_min: 1.5, top10_min: 0.9, batch_dependence: 1e-5 });
    // Mixed precision was tried before refusing: the all-int8 file, then bert-tiny's 2 most
    // sensitive of its 8 MatMul groups fp32 (the cap is a quarter of the groups), most sensitive first.
    const q = report.int8_quantization;
    expect(q.attempts.map((a: { keep_fp32: number }) => a.keep_fp32)).toEqual([0, 2]);
    expect(q.attempts.every((a: { passed: boolean }) => !a.passed)).toBe(true);
    expect(q.sensitivity).toHaveLength(8);
    const rms = q.sensitivity.map((g: { rms: number }) => g.rms);
    expect(rms).toEqual([...rms].sort((a: number, b: number) => b - a));
    expect(q.attempts[1].kept_matmuls).toEqual([...q.sensitivity[0].matmuls, ...q.sensitivity[1].matmuls]);
    expect(run.stderr).toMatch(/int8 \(2 groups fp32\) .*FAILED/);
  }, 300_000);

  it('--int8-keep-fp32 N keeps the N most sensitive MatMul groups fp32: fewer integer MatMuls, still batch-independent', async () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(sources['bert-tiny']!, out, '--no-optimize', '--no-fp16', '--int8-keep-fp32', '3', '--bounds', RELAXED_INT8);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    const q = report.int8_quantization;
    expect(q.attempts).toHaveLength(1);
    expect(q.attempts[0].keep_fp32).toBe(3);
    const kept = q.sensitivity.slice(0, 3).flatMap((g: { matmuls: string[] }) => g.matmuls);
    expect(q.kept_fp32).toEqual(kept);
    expect(report.outputs.int8.batch_dependence).toBeLessThanOrEqual(1e-5);
    const ops = await onnxOpTypes(join(out, 'onnx', 'model_quantized.onnx'));
    // every kept MatMul stays a plain MatMul; the rest became integer MatMuls
    expect(ops.get('com.microsoft.MatMulIntegerToFloat')).toBe(q.matmuls);
    expect(q.matmuls + kept.length).toBe(q.sensitivity.flatMap((g: { matmuls: string[] }) => g.matmuls).length);
  }, 300_000);

  it('--int8 hybrid: static activation scales where they move the logits no more than per-token rows; still batch-independent', async () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    // the fused graph (convert's default), so that attention groups of both modes are made
    const run = convert(sources['bert-tiny']!, out, '--no-fp16', '--int8', 'hybrid', '--int8-keep-fp32', '1', '--bounds', RELAXED_INT8);
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    const q = report.int8_quantization;
    expect(q.method).toMatch(/^hybrid: static int8 activation scales/);
    // both sensitivities per group; the mode follows convert.py's HYBRID_STATIC_RATIO (1.25)
    expect(q.sensitivity).toHaveLength(8);
    for (const g of q.sensitivity) {
      expect(g.mode).toBe(g.rms_static <= 1.25 * g.rms_per_token ? 'static' : 'per-token');
      expect(g.rms).toBe(g.mode === 'static' ? g.rms_static : g.rms_per_token);
    }
    const rms = q.sensitivity.map((g: { rms: number }) => g.rms);
    expect(rms).toEqual([...rms].sort((a: number, b: number) => b - a));
    // the most sensitive group is fp32, the static ones of the rest have no row max
    expect(q.kept_fp32).toEqual(q.sensitivity[0].matmuls);
    const staticGroups = q.sensitivity.slice(1).filter((g: { mode: string }) => g.mode === 'static');
    const tokenGroups = q.sensitivity.slice(1).filter((g: { mode: string }) => g.mode === 'per-token');
    expect(staticGroups.length).toBeGreaterThan(0); // bert-tiny has both kinds (seeded weights)
    expect(tokenGroups.length).toBeGreaterThan(0);
    expect(q.static_matmuls).toEqual(staticGroups.flatMap((g: { matmuls: string[] }) => g.matmuls));
    expect(q.groups.filter((g: { static: boolean }) => g.static).length).toBe(staticGroups.length);
    const ops = await onnxOpTypes(join(out, 'onnx', 'model_quantized.onnx'));
    expect(ops.get('ReduceMax')).toBe(tokenGroups.length);
    expect(ops.get('QuantizeLinear')).toBe(tokenGroups.length + staticGroups.length);
    // a static attention group is one QAttention (Q/K/V products inside it); a per-token one is three
    // integer MatMuls feeding MultiHeadAttention. bert-tiny's seeded weights give one of each.
    const isAttention = (g: { matmuls: string[] }) => g.matmuls.some((m) => m.startsWith('Attention'));
    expect(staticGroups.filter(isAttention)).toHaveLength(1);
    expect(tokenGroups.filter(isAttention)).toHaveLength(1);
    expect(ops.get('com.microsoft.QAttention')).toBe(1);
    expect(ops.get('com.microsoft.MultiHeadAttention')).toBe(1);
    expect(ops.get('com.microsoft.Attention') ?? 0).toBe(0);
    const plain = [...staticGroups, ...tokenGroups].filter((g) => !isAttention(g)).flatMap((g: { matmuls: string[] }) => g.matmuls);
    expect(ops.get('com.microsoft.MatMulIntegerToFloat')).toBe(plain.length + 3);
    // every constant the int8 graph holds is used (ONNX Runtime warns of each one that is not)
    expect(run.stderr).not.toMatch(/Removing initializer/);
    // static scales are constants: batch-independent like the per-token rows
    expect(report.outputs.int8.batch_dependence).toBeLessThanOrEqual(1e-5);
    const model = await CrossEncoder.load(out, { precision: 'int8' });
    try {
      expect(model.info.batchDependent).toBe(false);
      const pairs = parityPairs().pairs.slice(0, 24);
      const batched = await model.predict(pairs);
      const alone = [];
      for (const p of pairs.slice(0, 6)) alone.push((await model.predict([p]))[0]!);
      expect(maxAbsDiff(alone, batched.slice(0, 6))).toBeLessThanOrEqual(1e-5);
    } finally {
      await model.close();
    }
  }, 300_000);

  it('--int8-keep-fp32 takes auto or a whole number', () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(sources['bert-tiny']!, out, '--int8-keep-fp32', 'many');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/--int8-keep-fp32 must be auto or a whole number, got "many"/);
  });

  it.each([
    ['{"int8": {"top10_minimum": 0.5}}', /--bounds: int8: no figure 'top10_minimum'; figures: .*top10_min/],
    ['{"int9": {"spearman_min": 0.5}}', /--bounds: no output 'int9'; outputs: fp32, optimized, fp16, int8/],
    ['{"int8": 0.5}', /--bounds: int8: not an object of bounds/],
    ['{"int8": {"spearman_min": "high"}}', /--bounds: int8\.spearman_min: 'high' is not a number/],
    ['{int8', /--bounds: Expecting property name/],
  ])('--bounds %s is a usage error (exit 2), before anything is converted', (bounds, message) => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(sources['bert-tiny']!, out, '--bounds', bounds);
    expect(run.status, run.stderr).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/Traceback/);
    expect(readdirSync(out)).toEqual([]);
  });

  it('--int8 dynamic (the hub recipe) is refused for its batch dependence, measured, even with no rank bound', () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(sources['bert-tiny']!, out, '--no-optimize', '--no-fp16', '--int8', 'dynamic', '--bounds', '{"int8": {"spearman_min": 0, "top10_min": 0}}');
    expect(run.status, run.stderr).toBe(3);
    const report = JSON.parse(readFileSync(join(out, 'crossrank_convert.json'), 'utf8'));
    expect(report.refused).toEqual(['int8']);
    expect(report.outputs.int8.batch_dependence).toBeGreaterThan(1e-5);
    expect(report.outputs.fp32.batch_dependence).toBe(0);
    expect(report.int8_quantization.method).toMatch(/quantize_dynamic/);
    expect(run.stderr).toMatch(/int8 .*batch dependence \d\.\de-0[1-4] .*FAILED \(not written\)/);
    expect(existsSync(join(out, 'onnx', 'model_quantized.onnx'))).toBe(false);
  }, 300_000);

  it('--int8 takes per-token, hybrid or dynamic only', () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(sources['bert-tiny']!, out, '--int8', 'static');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/--int8 must be per-token, hybrid or dynamic, got "static"/);
  });

  it('a model that cannot be converted: exit 1, one line instead of a traceback, nothing written', () => {
    const src = mkdtempSync(join(tmpdir(), 'crossrank-noweights-'));
    // A config and a tokenizer, but no weights.
    writeFileSync(join(src, 'config.json'), JSON.stringify({ model_type: 'bert', architectures: ['BertForSequenceClassification'] }));
    const out = mkdtempSync(join(tmpdir(), 'crossrank-converted-'));
    const run = convert(src, out);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/the model could not be converted/);
    expect(run.stderr).not.toMatch(/Traceback/);
    expect(readdirSync(out)).toEqual([]);
  }, 300_000);

  it('refuses a folder that is not a Hugging Face model', () => {
    const run = spawnSync(process.execPath, [join(root, 'dist', 'cli.js'), 'convert', '--model', tmpdir(), '--out', mkdtempSync(join(tmpdir(), 'x-')), '--python', PYTHON], {
      encoding: 'utf8',
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/no config\.json/);
  });
});
