// Parity with the reference stack on identical weights: token ids from HF tokenizers, scores
// and rankings from sentence-transformers CrossEncoder (goldens made by test/fixtures/generate.py).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { MODEL_NAMES, flat, golden, maxAbsDiff, modelDir, parityPairs } from './helpers.js';

const TOLERANCE = 1e-4;

describe.each(MODEL_NAMES)('parity with sentence-transformers: %s', (name) => {
  const g = golden(name);
  const { pairs, rank_cases: rankCases } = parityPairs();
  let model: CrossEncoder;

  beforeAll(async () => {
    model = await CrossEncoder.load(modelDir(name));
  });
  afterAll(async () => {
    await model.close();
  });

  it('covers at least 300 pairs', () => {
    expect(pairs.length).toBeGreaterThanOrEqual(300);
    expect(flat(g.scores).length).toBe(pairs.length * g.num_labels);
  });

  it('token ids and type ids equal HF tokenizers exactly', async () => {
    const { ids, typeIds } = await model.tokenize(pairs);
    expect(ids.map((a) => Array.from(a))).toEqual(g.ids);
    expect(typeIds.map((a) => Array.from(a))).toEqual(g.type_ids);
  });

  it('feeds token_type_ids only when the model has that input', () => {
    expect(model.info.inputs.includes('token_type_ids')).toBe(g.token_type_ids_input);
  });

  it('default scores equal CrossEncoder.predict', async () => {
    const scores = await model.predict(pairs);
    expect(model.info.numLabels).toBe(g.num_labels);
    expect(maxAbsDiff(scores, flat(g.scores))).toBeLessThanOrEqual(TOLERANCE);
  });

  it('raw logits equal CrossEncoder.predict with an Identity activation', async () => {
    const logits = await model.predict(pairs, { activation: 'identity' });
    expect(maxAbsDiff(logits, flat(g.logits))).toBeLessThanOrEqual(TOLERANCE);
  });

  const rankTest = g.rank !== undefined ? 'rerank equals CrossEncoder.rank (order, scores, documents)' : undefined;
  if (rankTest === undefined) {
    it('rerank refuses a multi-label model, as CrossEncoder.rank does', async () => {
      await expect(model.rerank('q', ['d'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    });
    return;
  }
  it(rankTest, async () => {
    for (const [i, c] of rankCases.entries()) {
      const expected = g.rank![i]!;
      const got = await model.rerank(c.query, c.documents, {
        topK: c.top_k ?? undefined,
        returnDocuments: true,
      });
      expect(got.map((r) => r.index)).toEqual(expected.map((r) => r.index));
      expect(got.map((r) => r.document)).toEqual(expected.map((r) => r.document));
      expect(maxAbsDiff(got.map((r) => r.score), expected.map((r) => r.score))).toBeLessThanOrEqual(TOLERANCE);
    }
  });
});
