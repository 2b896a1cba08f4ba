// The offline GPU bundle, proven on this CPU machine through the CPU provider: pack it (without
// the 230 MB CUDA provider and the node binary, to stay fast), unpack it elsewhere, run its
// benchmark flow end to end (torch builds the model, fp16 copy, crossrank and
// sentence-transformers side by side) and check the table it writes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { PYTHON } from './helpers.js';
import { runtimeDependencies } from './runtime-deps.mjs';

const root = join(__dirname, '..');

describe('GPU bundle (CPU-provider proof)', () => {
  it('packs into parts under 64 MiB, unpacks with its checksum, and runs the benchmark flow', () => {
    const out = mkdtempSync(join(tmpdir(), 'crossrank-bundle-'));
    const pack = spawnSync(process.execPath, [join(root, 'bench/gpu/bundle.mjs'), '--out', out, '--no-cuda', '--no-node', '--part-mb', '1'], { encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'MANIFEST.json'), 'utf8'));
    expect(manifest.parts.length).toBeGreaterThan(1);
    for (const p of manifest.parts) expect(p.bytes).toBeLessThanOrEqual(2 ** 20);

    const unpack = spawnSync('sh', [join(out, 'unpack.sh')], { encoding: 'utf8' });
    expect(unpack.status, unpack.stderr).toBe(0);
    expect(unpack.stdout).toMatch(/crossrank-gpu\.tar\.xz: OK/);
    const bundle = join(out, 'crossrank-gpu');
    expect(readdirSync(bundle).sort()).toEqual(['bench', 'dist', 'lib', 'node_modules', 'package.json', 'run.sh']);
    expect(readdirSync(join(bundle, 'lib', 'python')).sort()).toEqual(['convert.py', 'quantize.py']);
    // What dist/ imports at run time (the hub client, fastify, ...), as npm lays it out.
    for (const { path } of runtimeDependencies(root)) expect(existsSync(join(bundle, path, 'package.json')), path).toBe(true);

    const run = spawnSync(join(bundle, 'run.sh'), ['--device', 'cpu', '--models', 'tinybert-l2', '--pairs', '60', '--reps', '2', '--st-batch', '32', '--runs', '2', '--batch', '64', '--tokenizer-threads', '1'], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, PYTHON, CROSSRANK_GPU_CACHE: join(out, 'cache'), LD_LIBRARY_PATH: '' },
    });
    expect(run.status, run.stderr.slice(-3000)).toBe(0);
    const table = readFileSync(join(bundle, 'results', 'gpu-proof-cpu.md'), 'utf8');
    expect(table).toMatch(/\| tinybert-l2 \| 9000 \| \d+/);
    expect(table).toMatch(/\| tinybert-l2 \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \|/); // default vs concurrentRuns 2
    expect(table).toMatch(/\| model \| 32 \(default\) \| 64 \|\n[^\n]*\n\| tinybert-l2 \| [\d.]+ \| [\d.]+ \|/); // --batch 64 beside the default
    expect(table).toMatch(/\| model \| default \| 1 threads \|\n[^\n]*\n\| tinybert-l2 \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \|/); // --tokenizer-threads 1
    const json = JSON.parse(readFileSync(join(bundle, 'results', 'gpu-proof-cpu.json'), 'utf8'));
    const row = json.rows[0];
    for (const k of ['crossrank fp32 throughput', 'crossrank fp16 throughput', 'crossrank fp16 runs=2 throughput', 'crossrank fp16 batch=64 throughput', 'crossrank fp16 tokenizer=1 throughput', 'sentence-transformers fp32', 'sentence-transformers fp16']) {
      expect(row[k], k).toBeGreaterThan(0);
    }
    // What the scheduler did during the fp16 throughput run, for telling a tokenization bound apart.
    expect(row['crossrank fp16 throughput scheduler'].pairs).toBeGreaterThan(0);
    expect(table).toMatch(/\| tinybert-l2 \| \d+ \| \d+ \| [\d.]+ % \| \d+ of \d+ \|/);
    // The parity step ran (CPU against CPU here: fp32 identical, fp16 a real comparison).
    expect(row.parity.fp32MaxAbsDiff).toBe(0);
    expect(row.parity.fp16MaxAbsDiff).toBeGreaterThan(0);
    expect(row.parity.pairs).toBe(60);
    expect(table).toMatch(/\| tinybert-l2 \| [\d.]+e[-+]\d+ \| 0\.0e\+0 \| 1\.00000 \|/);
    expect(json.meta.crossrankDevice).toMatchObject({ device: 'cpu', concurrentRuns: 1, inputMemory: 'cpu' });
    expect(table).toMatch(/crossrank ran on CPUExecutionProvider with inputs in cpu memory/);

    // --merge: a second call for another model keeps the first model's row (one model per call on
    // a machine that limits how long one command runs).
    const second = spawnSync(join(bundle, 'run.sh'), ['--device', 'cpu', '--models', 'minilm-l2', '--pairs', '60', '--reps', '2', '--st-batch', '32', '--runs', '', '--merge'], {
      encoding: 'utf8',
      timeout: 600_000,
      env: { ...process.env, PYTHON, CROSSRANK_GPU_CACHE: join(out, 'cache'), LD_LIBRARY_PATH: '' },
    });
    expect(second.status, second.stderr.slice(-3000)).toBe(0);
    const merged = JSON.parse(readFileSync(join(bundle, 'results', 'gpu-proof-cpu.json'), 'utf8'));
    expect(merged.rows.map((r: { model: string }) => r.model)).toEqual(['tinybert-l2', 'minilm-l2']);
    expect(readFileSync(join(bundle, 'results', 'gpu-proof-cpu.md'), 'utf8')).toMatch(/\| tinybert-l2 \| 9000 [^\n]*\n\| minilm-l2 \| 4100 /);

    // The BEIR evaluation loop's speed, from the bundle (fp16 copy of the model built above).
    const evalSpeed = spawnSync(join(bundle, 'run.sh'), ['eval-speed', join(out, 'cache', 'tinybert-l2'), '--device', 'cpu', '--precision', 'fp16', '--queries', '3', '--reps', '1', '--concurrency', '1,4'], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, PYTHON, LD_LIBRARY_PATH: '' },
    });
    expect(evalSpeed.status, evalSpeed.stderr.slice(-3000)).toBe(0);
    expect(evalSpeed.stdout).toMatch(/^cpu, fp16, 3 queries x 100 documents$/m);
    expect(evalSpeed.stdout).toMatch(/^tinybert-l2 concurrency 4: \d+ docs\/s/m);

    // --report-only rewrites the same report from the results file alone.
    const mdPath = join(bundle, 'results', 'gpu-proof-cpu.md');
    const written = readFileSync(mdPath, 'utf8');
    rmSync(mdPath);
    const again = spawnSync(process.execPath, [join(bundle, 'bench', 'gpu', 'run.mjs'), '--report-only', join(bundle, 'results', 'gpu-proof-cpu.json')], { encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(mdPath, 'utf8')).toBe(written);
  }, 600_000);

  it('the lease scripts stage the parts, build the models and run the benchmark flow', () => {
    // What a time-limited GPU lease runs (bench/gpu/lease/), here on the CPU provider.
    const out = mkdtempSync(join(tmpdir(), 'crossrank-lease-'));
    const parts = join(out, 'parts');
    const pack = spawnSync(process.execPath, [join(root, 'bench/gpu/bundle.mjs'), '--out', parts, '--no-cuda', '--no-node', '--part-mb', '1'], { encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const env = { ...process.env, PYTHON, LEASE_DIR: join(out, 'lease'), LEASE_MODELS: 'tinybert-l2', OUT: join(out, 'out'), LD_LIBRARY_PATH: '' };
    const sh = (script: string, ...args: string[]) => spawnSync('sh', [join(root, 'bench/gpu/lease', script), ...args], { cwd: root, encoding: 'utf8', env, timeout: 600_000 });
    const stage = sh('stage.sh', parts);
    expect(stage.status, stage.stderr).toBe(0);
    expect(readdirSync(join(out, 'lease'))).toContain('unpack.sh');
    // As the first call starts it, with its log in the lease folder (bench.sh returns it).
    const prep = spawnSync('sh', ['-c', `sh ${join(root, 'bench/gpu/lease/prep.sh')} > "$LEASE_DIR/prep.log" 2>&1`], { cwd: root, encoding: 'utf8', env, timeout: 600_000 });
    expect(prep.status).toBe(0);
    expect(readFileSync(join(out, 'lease', 'prep.log'), 'utf8')).toMatch(/prep ok in \d+ s/);
    expect(existsSync(join(out, 'lease', 'models', 'tinybert-l2', 'onnx', 'model_fp16.onnx'))).toBe(true);
    const bench = sh('bench.sh', 'tinybert-l2', '--device', 'cpu', '--pairs', '60', '--reps', '2', '--st-batch', '32', '--runs', '');
    expect(bench.status, bench.stderr.slice(-3000)).toBe(0);
    // Results where the device call returns them, and kept for --merge in a later call.
    expect(readFileSync(join(out, 'out', 'res', 'gpu-proof-cpu.md'), 'utf8')).toMatch(/\| tinybert-l2 \| 9000 \| \d+/);
    expect(existsSync(join(out, 'lease', 'res', 'gpu-proof-cpu.json'))).toBe(true);
    expect(existsSync(join(out, 'out', 'prep.log'))).toBe(true);
    rmSync(out, { recursive: true, force: true });
  }, 600_000);
});
