// The "Reproduce the leaderboard" pipeline of docs/evaluation.md, end to end, on the tiny BEIR fixture.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FIXTURES, modelDir } from './helpers.js';

describe('bench/leaderboard.mjs', () => {
  it('fills the NDCG@10 table for every model x dataset and matches the reference pipeline', () => {
    const root = mkdtempSync(join(tmpdir(), 'crossrank-leaderboard-'));
    for (const d of ['models', 'data', 'runs']) mkdirSync(join(root, d));
    cpSync(modelDir('bert-tiny'), join(root, 'models', 'bert-tiny'), { recursive: true });
    cpSync(join(FIXTURES, 'beir-tiny'), join(root, 'data', 'beir-tiny'), { recursive: true });
    cpSync(join(FIXTURES, 'beir-tiny', 'run.bm25.trec'), join(root, 'runs', 'beir-tiny.trec'));
    const run = spawnSync(
      process.execPath,
      [join(__dirname, '..', 'bench', 'leaderboard.mjs'), '--models', join(root, 'models'), '--data', join(root, 'data'), '--runs', join(root, 'runs'), '--out', join(root, 'out'), '--top-k', '20'],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    const expected = JSON.parse(readFileSync(join(FIXTURES, 'beir-tiny', 'expected.json'), 'utf8'));
    const table = readFileSync(join(root, 'out', 'leaderboard.md'), 'utf8');
    expect(table).toContain(`| bert-tiny | ${expected.reranked.mean.ndcg10.toFixed(3)} |`);
    expect(table).toContain(`| (first stage) | ${expected.bm25.mean.ndcg10.toFixed(3)} |`);
    const json = JSON.parse(readFileSync(join(root, 'out', 'leaderboard.json'), 'utf8'));
    expect(Math.abs(json.cells['bert-tiny']['beir-tiny'].reranked.ndcg10 - expected.reranked.mean.ndcg10)).toBeLessThan(1e-4);
  });
});
