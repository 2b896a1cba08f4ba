// CI smoke of the benchmark: it runs end to end and writes well-formed output. It asserts
// nothing about speed (that is what `npm run bench` and bench/RESULTS.md are for).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { PYTHON } from './helpers.js';

const root = join(__dirname, '..');

describe('benchmark smoke (npm run bench:smoke)', () => {
  it('runs crossrank and transformers.js and writes JSON, Markdown and an SVG chart', () => {
    const run = spawnSync(process.execPath, [join(root, 'bench/run.mjs'), '--smoke'], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(summary.errors).toBe(0);
    const [jsonPath, svgPath, mdPath] = summary.files as string[];

    const result = JSON.parse(readFileSync(jsonPath!, 'utf8'));
    expect(result.meta).toMatchObject({ smoke: true, threads: expect.any(Number) });
    const workloads = ['rerank', 'throughput', 'batch-1', 'batch-8', 'batch-32', 'batch-128', 'long'];
    for (const system of ['crossrank', 'transformers.js']) {
      for (const workload of workloads) {
        const r = result.runs.find((x: { system: string; workload: string }) => x.system === system && x.workload === workload);
        expect(r, `${system} ${workload}`).toBeDefined();
        expect(r.seconds.length).toBeGreaterThanOrEqual(2);
        expect(r.per_second).toBeGreaterThan(0);
      }
    }
    const own = result.runs.find((x: { system: string; workload: string }) => x.system === 'crossrank' && x.workload === 'throughput');
    expect(own.gflops).toBeGreaterThan(0);
    expect(own.event_loop_p99_ms).toBeGreaterThanOrEqual(0);
    expect(result.runs.filter((x: { kind: string }) => x.kind === 'tokenize').map((x: { system: string }) => x.system).sort()).toEqual([
      'crossrank',
      'transformers.js-tokenizer',
    ]);

    const md = readFileSync(mdPath!, 'utf8');
    expect(md).toMatch(/\| model \| crossrank \| transformers\.js \| x transformers\.js \|/);
    expect(md).toMatch(/## Targets/);
    const svg = readFileSync(svgPath!, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect((svg.match(/<rect /g) ?? []).length).toBeGreaterThan(10);

    // --report-only rewrites the same report from the saved raw data.
    rmSync(mdPath!);
    const again = spawnSync(process.execPath, [join(root, 'bench/run.mjs'), '--report-only', jsonPath!], { encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(mdPath!, 'utf8')).toBe(md);
  });

  it('GEMM peak is the best run, with the median beside it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-gemm-'));
    const build = spawnSync(PYTHON, ['-c', `import sys; from pathlib import Path; sys.path.insert(0, 'bench'); import models; models.build_gemm(Path(${JSON.stringify(dir)}), 256)`], {
      cwd: root,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(build.status, build.stderr).toBe(0);
    const run = spawnSync(join(root, 'build/Release/crossrank-bench'), ['gemm', join(dir, 'gemm.onnx'), '1', '5'], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const gemm = JSON.parse(run.stdout);
    expect(gemm.runs).toHaveLength(5);
    expect(gemm.gflops).toBe(Math.max(...gemm.runs));
    expect(gemm.median).toBeLessThanOrEqual(gemm.gflops);
    expect(gemm.median).toBeGreaterThanOrEqual(Math.min(...gemm.runs));
  });
});
