// A causal-LM graph with past_key_values inputs (onnx-community layout) returns logits
// [batch, seq, vocab] for every position. native/core/inference_session.h kMaxCausalLogitsBytes
// bounds what one run may return (InferenceSession::max_run_tokens = 512 MiB / (vocab * 4) tokens
// for fp32 logits) and the scheduler splits batches by it, whatever maxBatchTokens says. The
// committed qwen3-causal-past-tiny has a 700-token vocabulary, so the bound never bites there; this
// file writes the same model with Qwen3's real vocabulary (151,669 rows, tiny hidden size) at test
// time and scores a batch whose uncapped logits would be about 3 GB.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { FIXTURES, PYTHON, maxAbsDiff } from './helpers.js';

const dist = join(__dirname, '..', 'dist', 'index.cjs');
const VOCAB = 151_669; // Qwen3-Reranker's config.json vocab_size
const CAP_BYTES = 512 * 2 ** 20; // kMaxCausalLogitsBytes
const RUN_TOKENS = Math.floor(CAP_BYTES / (VOCAB * 4)); // 884 positions of fp32 logits per run
const PAIRS = 32; // most of them cut at max_length 160: ~5,000 positions, ~3 GB of logits uncapped
const GiB = 2 ** 30;

let root: string;
let dir: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'crossrank-past-cap-'));
  dir = join(root, 'qwen3-causal-past-vocab');
  // qwen3-causal-tiny's seeded weights, tokenizer and template with the vocabulary widened (ids the
  // tokenizer never produces), exported as qwen3-causal-past-tiny is: ~39 MB, written here only.
  const script = `
import sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import generate_llm
with tempfile.TemporaryDirectory() as tmp:
    hf = generate_llm.make_llm("qwen3-causal-tiny", Path(tmp) / "hf", vocab_size=int(sys.argv[3]))
    generate_llm.write_past_folder(hf, Path(sys.argv[2]), fp16=False)
`;
  const run = spawnSync(PYTHON, ['-c', script, FIXTURES, dir, String(VOCAB)], { encoding: 'utf8', timeout: 150_000 });
  expect(run.status, run.stderr).toBe(0);
}, 180_000);
afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

interface ChildResult {
  graph: string;
  batched: number[];
  alone: number[];
  stats: { pairs: number; batches: number; tokens: number; paddedTokens: number };
  maxRssKiB: number;
  loadRssKiB: number;
}

describe('causal-LM logits cap (kMaxCausalLogitsBytes) with a Qwen3-sized vocabulary', () => {
  it('a batch whose uncapped logits are ~3 GB runs in capped runs: peak RSS stays bounded, scores equal scoring each pair alone', () => {
    // Its own process, so that maxRSS (the process's peak) measures this predict and nothing else.
    // maxBatchTokens and batchSize are far above the batch: only the session's cap splits it.
    const script = `
      const { CrossEncoder } = require(process.argv[1]);
      const pairs = JSON.parse(require('node:fs').readFileSync(process.argv[3], 'utf8')).pairs.slice(0, Number(process.argv[4]));
      (async () => {
        const model = await CrossEncoder.load(process.argv[2]);
        const loadRssKiB = process.resourceUsage().maxRSS;
        const batched = await model.predict(pairs, { activation: 'identity', batchSize: 1024, maxBatchTokens: 1 << 20 });
        const stats = model.stats();
        const maxRssKiB = process.resourceUsage().maxRSS;
        const alone = await model.predict(pairs, { activation: 'identity', batchSize: 1 });
        console.log(JSON.stringify({ graph: model.info.llm && model.info.llm.graph, batched: [...batched], alone: [...alone], stats, maxRssKiB, loadRssKiB }));
        await model.close();
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const run = spawnSync(process.execPath, ['-e', script, dist, dir, join(FIXTURES, 'pairs.json'), String(PAIRS)], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.signal, run.stderr).toBeNull();
    expect(run.status, run.stderr).toBe(0);
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!) as ChildResult;
    expect(out.graph).toBe('causal-lm-with-past');

    // The batch needs the cap: all of it in one run would return this many bytes of logits.
    const uncapped = out.stats.paddedTokens * VOCAB * 4;
    const sizes = `peak RSS ${(out.maxRssKiB / 2 ** 20).toFixed(2)} GiB (after load ${(out.loadRssKiB / 2 ** 20).toFixed(2)} GiB); ` +
      `${out.stats.paddedTokens} positions in one run would be ${(uncapped / GiB).toFixed(2)} GiB of logits, the cap allows ` +
      `${RUN_TOKENS} positions (${(CAP_BYTES / GiB).toFixed(2)} GiB) per run; ${out.stats.batches} runs`;
    expect(out.stats.pairs, sizes).toBe(PAIRS);
    expect(uncapped, sizes).toBeGreaterThan(2.5 * GiB);
    // Split by the cap: at least as many runs as ceil(positions / RUN_TOKENS) (one run without it).
    expect(out.stats.batches, sizes).toBeGreaterThanOrEqual(Math.ceil(out.stats.paddedTokens / RUN_TOKENS));
    // Memory: one capped run's logits (0.5 GiB) on top of the loaded model, far from the uncapped size.
    expect(out.maxRssKiB * 1024, sizes).toBeLessThan(1.5 * GiB);

    // The split changes nothing: each pair scores as it does alone. The pairs score apart, so equal
    // scores are not a model that returns one value for everything.
    expect(out.batched).toHaveLength(PAIRS);
    expect(maxAbsDiff(out.batched, out.alone), sizes).toBeLessThanOrEqual(1e-5);
    expect(new Set(out.alone).size).toBeGreaterThan(PAIRS / 2);
  }, 120_000);
});
