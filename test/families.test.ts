// Every reranker family next to BERT/ELECTRA/XLM-R: tiny seeded models with their family's real
// tokenizer pipeline (test/fixtures/generate_families.py) against HF tokenizers on tokenizer.json
// and sentence-transformers 6.2's CrossEncoder. Also the folder rules of lib/model/families.ts.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { spawnSync } from 'node:child_process';

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { readModelFolder } from '../lib/model/folder.js';
import { folderActivation, lengthLimits } from '../lib/model/families.js';
import { FIXTURES, PYTHON, maxAbsDiff, parityPairs } from './helpers.js';

const TOLERANCE = 1e-4;
const FAMILY_NAMES = ['deberta-v3-tiny', 'modernbert-tiny', 'distilbert-tiny', 'mpnet-tiny', 'camembert-tiny', 'albert-tiny'] as const;

interface FamilyGolden {
  model_type: string;
  activation: string;
  num_labels: number;
  max_length: number;
  token_type_ids_input: boolean;
  scores: number[];
  logits: number[];
  ref_scores: number[];
  ref_logits: number[];
  st_agrees: boolean[];
  rank: { source: 'sentence-transformers' | 'tokenizer.json'; hits: { index: number; score: number; document: string }[] }[];
  ids: number[][];
  type_ids: number[][];
  long?: { max_length: number; indices: number[]; lengths: number[]; logits: number[] };
}

const familyGolden = (name: string): FamilyGolden =>
  JSON.parse(readFileSync(join(FIXTURES, 'goldens', `${name}.json`), 'utf8')) as FamilyGolden;
const familyDir = (name: string): string => join(FIXTURES, 'models', name);
const pick = <T>(values: T[], keep: boolean[]): T[] => values.filter((_, i) => keep[i]);

/** Where sentence-transformers 6.2 tokenizes differently from tokenizer.json (docs/models.md, "Where parity with sentence-transformers 6 does not hold"). */
const ST_DIVERGES = new Set(['deberta-v3-tiny', 'albert-tiny']);

describe.each(FAMILY_NAMES)('family parity: %s', (name) => {
  const g = familyGolden(name);
  const { pairs, rank_cases: rankCases } = parityPairs();
  let model: CrossEncoder;

  beforeAll(async () => {
    model = await CrossEncoder.load(familyDir(name));
  });
  afterAll(async () => {
    await model.close();
  });

  it('reads the folder as sentence-transformers does: max length, labels, activation, inputs', () => {
    expect(model.info.modelType).toBe(g.model_type);
    expect(model.info.maxLength).toBe(g.max_length);
    expect(model.info.numLabels).toBe(g.num_labels);
    expect(model.info.activation).toBe(g.activation.toLowerCase());
    expect(model.info.inputs.includes('token_type_ids')).toBe(g.token_type_ids_input);
  });

  it('token ids and type ids equal HF tokenizers on tokenizer.json, on every pair', async () => {
    const { ids, typeIds } = await model.tokenize(pairs);
    expect(ids.map((a) => Array.from(a))).toEqual(g.ids);
    expect(typeIds.map((a) => Array.from(a))).toEqual(g.type_ids);
  });

  it('sentence-transformers tokenizes like tokenizer.json everywhere, except where docs/models.md says', () => {
    const differs = g.st_agrees.filter((a) => !a).length;
    if (ST_DIVERGES.has(name)) {
      expect(differs).toBeGreaterThan(0);
      expect(differs).toBeLessThan(pairs.length / 10);
    } else {
      expect(differs).toBe(0);
    }
  });

  it('scores and logits equal CrossEncoder.predict wherever both tokenize alike', async () => {
    const scores = await model.predict(pairs);
    const logits = await model.predict(pairs, { activation: 'identity' });
    expect(maxAbsDiff(pick(Array.from(scores), g.st_agrees), pick(g.scores, g.st_agrees))).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDiff(pick(Array.from(logits), g.st_agrees), pick(g.logits, g.st_agrees))).toBeLessThanOrEqual(TOLERANCE);
    // Every pair: the same weights in PyTorch fed tokenizer.json's ids.
    expect(maxAbsDiff(scores, g.ref_scores)).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDiff(logits, g.ref_logits)).toBeLessThanOrEqual(TOLERANCE);
  });

  it('rerank equals CrossEncoder.rank (order, scores, documents)', async () => {
    for (const [i, c] of rankCases.entries()) {
      const expected = g.rank[i]!;
      // tokenizer.json-sourced cases only where sentence-transformers tokenizes differently.
      if (!ST_DIVERGES.has(name)) expect(expected.source).toBe('sentence-transformers');
      const got = await model.rerank(c.query, c.documents, { topK: c.top_k ?? undefined, returnDocuments: true });
      expect(got.map((r) => r.index)).toEqual(expected.hits.map((r) => r.index));
      expect(got.map((r) => r.document)).toEqual(expected.hits.map((r) => r.document));
      expect(maxAbsDiff(got.map((r) => r.score), expected.hits.map((r) => r.score))).toBeLessThanOrEqual(TOLERANCE);
    }
    expect(g.rank.filter((r) => r.source === 'sentence-transformers').length).toBeGreaterThanOrEqual(1);
  });
});

// Random text across each family's normalizer paths: whitespace runs, controls, combining marks,
// Unicode spaces, CJK, emoji, text spelling special tokens.
const fragments = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...' '.repeat(10), '\t', '\n', '\r', '\x07', '\x0b', '\x0c', '\x00', '\x7f', '``', "''", '.,;:!?()-',
  '[CLS]', '<s>', '</s>', '<mask>', '[SEP]', '▁', 'é', 'e\u0301', 'a\u0308\u0323', '\u00a0', '\u3000', '\u2003',
  '中文', '한국어', 'ﬁ', 'ß', 'İ', '😀', '👩‍👧', 'Café', 'ÉCOLE', 'vaccines', 'protein',
];
const randomText = fc.array(fc.constantFrom(...fragments), { maxLength: 40 }).map((parts) => parts.join(''));

describe.each(FAMILY_NAMES)('token ids of random text equal the Python tokenizers package: %s', (name) => {
  it.each([512, 64])('max length %i', async (maxLength) => {
    const pairs = fc.sample(fc.tuple(randomText, randomText), { numRuns: 600, seed: 20261130 + maxLength });
    const run = spawnSync(PYTHON, [join(FIXTURES, 'encode_reference.py')], {
      input: JSON.stringify({ tokenizer: join(familyDir(name), 'tokenizer.json'), max_length: maxLength, truncate_left: false, pairs }),
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: 120_000,
    });
    expect(run.status, run.stderr).toBe(0);
    const expected = JSON.parse(run.stdout) as { ids: number[][]; type_ids: number[][] };
    const model = await CrossEncoder.load(familyDir(name), { maxLength });
    try {
      const { ids, typeIds } = await model.tokenize(pairs);
      expect(ids.map((a) => Array.from(a))).toEqual(expected.ids);
      expect(typeIds.map((a) => Array.from(a))).toEqual(expected.type_ids);
    } finally {
      await model.close();
    }
  });
});

describe('family length rules on the fixtures', () => {
  const { pairs } = parityPairs();

  it('ModernBERT without model_max_length takes 8,192 and scores pairs over 512 tokens as sentence-transformers does', () => {
    const g = familyGolden('modernbert-tiny');
    const tokenizerConfig = JSON.parse(readFileSync(join(familyDir('modernbert-tiny'), 'tokenizer_config.json'), 'utf8'));
    expect(tokenizerConfig.model_max_length).toBeUndefined();
    expect(g.max_length).toBe(8192);
    // The parity test above covers these: without the rule they were cut to 512.
    expect(g.ids.filter((ids) => ids.length > 512).length).toBeGreaterThanOrEqual(10);
  });

  it('DeBERTa-v3 (relative positions) accepts maxLength 1,024 and matches CrossEncoder(max_length=1024)', async () => {
    const g = familyGolden('deberta-v3-tiny');
    const long = g.long!;
    expect(long.indices.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...long.lengths)).toBeGreaterThan(900);
    const model = await CrossEncoder.load(familyDir('deberta-v3-tiny'), { maxLength: 1024 });
    try {
      expect(model.info.maxLength).toBe(1024);
      const logits = await model.predict(long.indices.map((i) => pairs[i]!), { activation: 'identity' });
      expect(maxAbsDiff(logits, long.logits)).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      await model.close();
    }
  });

  it('MPNet positions start after padding_idx 1: maxLength 514 is refused at load, 512 accepted', async () => {
    await expect(CrossEncoder.load(familyDir('mpnet-tiny'), { maxLength: 514 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/at most 512/),
    });
    const model = await CrossEncoder.load(familyDir('mpnet-tiny'), { maxLength: 512 });
    await model.close();
  });

  it('MPNet saved by sentence-transformers: config_sentence_transformers.json (Sigmoid) wins over config.json (Identity)', async () => {
    const dir = familyDir('mpnet-tiny');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    expect(config.sentence_transformers.activation_fn).toMatch(/Identity$/);
    expect((await readModelFolder(dir, undefined)).activation).toBe('sigmoid');
    expect(familyGolden('mpnet-tiny').activation).toBe('Sigmoid');
  });
});

describe('lengthLimits (sentence-transformers 6.2 Transformer.__init__ + transformers position tables)', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>, number, number][] = [
    ['BERT, tokenizer 512', { model_type: 'bert', max_position_embeddings: 512 }, { model_max_length: 512 }, 512, 512],
    ['BERT, no tokenizer limit', { model_type: 'bert', max_position_embeddings: 512 }, {}, 512, 512],
    ['BERT, 1e30 placeholder', { model_type: 'bert', max_position_embeddings: 512 }, { model_max_length: 1e30 }, 512, 512],
    ['BERT, tokenizer 256', { model_type: 'bert', max_position_embeddings: 512 }, { model_max_length: 256 }, 512, 256],
    ['XLM-R 514, no tokenizer limit', { model_type: 'xlm-roberta', max_position_embeddings: 514, pad_token_id: 1 }, {}, 512, 512],
    ['XLM-R 8194 (bge-reranker-v2-m3)', { model_type: 'xlm-roberta', max_position_embeddings: 8194, pad_token_id: 1 }, { model_max_length: 8192 }, 8192, 8192],
    ['CamemBERT', { model_type: 'camembert', max_position_embeddings: 514, pad_token_id: 1 }, { model_max_length: 512 }, 512, 512],
    ['MPNet ignores pad_token_id (padding_idx 1)', { model_type: 'mpnet', max_position_embeddings: 514, pad_token_id: 5 }, { model_max_length: 512 }, 512, 512],
    ['ModernBERT, no tokenizer limit', { model_type: 'modernbert', max_position_embeddings: 8192 }, {}, 8192, 8192],
    ['DeBERTa-v3 relative', { model_type: 'deberta-v2', max_position_embeddings: 512, position_biased_input: false }, { model_max_length: 512 }, Infinity, 512],
    ['DeBERTa-v3 relative, 1e30 placeholder', { model_type: 'deberta-v2', max_position_embeddings: 512, position_biased_input: false }, { model_max_length: 1e30 }, Infinity, 512],
    ['DeBERTa with absolute positions', { model_type: 'deberta-v2', max_position_embeddings: 512 }, {}, 512, 512],
    ['DistilBERT', { model_type: 'distilbert', max_position_embeddings: 512 }, { model_max_length: 512 }, 512, 512],
    ['nothing known', {}, {}, Infinity, 512],
  ];
  it.each(cases)('%s', (_label, config, tokenizerConfig, positionLimit, defaultMaxLength) => {
    expect(lengthLimits(config, tokenizerConfig)).toEqual({ positionLimit, defaultMaxLength });
  });
});

describe('folderActivation (sentence-transformers 6.2 order)', () => {
  const sig = 'torch.nn.modules.activation.Sigmoid';
  const id = 'torch.nn.modules.linear.Identity';
  const tanh = 'torch.nn.modules.activation.Tanh';
  it('config_sentence_transformers.json first, but only next to modules.json', () => {
    const config = { sentence_transformers: { activation_fn: id } };
    expect(folderActivation(config, { activation_fn: sig }, true)).toBe('sigmoid');
    expect(folderActivation(config, { activation_fn: sig }, false)).toBe('identity');
  });
  it('an untrusted path in config_sentence_transformers.json falls through to config.json', () => {
    expect(folderActivation({ sentence_transformers: { activation_fn: tanh } }, { activation_fn: 'my.Custom' }, true)).toBe('tanh');
  });
  it('config.json sentence_transformers, then the legacy key, then undefined (sigmoid for one label)', () => {
    expect(folderActivation({ sentence_transformers: { activation_fn: id }, sbert_ce_default_activation_function: sig }, undefined, false)).toBe('identity');
    expect(folderActivation({ sbert_ce_default_activation_function: tanh }, undefined, false)).toBe('tanh');
    // A present sentence_transformers.activation_fn stops the search even when untrusted (elif in get_default_activation_fn).
    expect(folderActivation({ sentence_transformers: { activation_fn: 'x.Y' }, sbert_ce_default_activation_function: tanh }, undefined, false)).toBeUndefined();
    expect(folderActivation({}, undefined, true)).toBeUndefined();
  });
  it('a torch activation crossrank does not implement is a coded error', () => {
    expect(folderActivation({ sentence_transformers: { activation_fn: 'torch.nn.modules.activation.GELU' } }, undefined, false)).toMatchObject({
      code: 'INVALID_MODEL',
    });
  });
});

describe('MODEL_NOT_FOUND lists onnx/ too', () => {
  it('names the files in onnx/ when the wanted precision is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-nf-'));
    writeFileSync(join(dir, 'tokenizer.json'), '{}');
    const onnx = join(dir, 'onnx');
    mkdirSync(onnx);
    writeFileSync(join(onnx, 'model_fp16.onnx'), '');
    await expect(readModelFolder(dir, undefined, 'fp32')).rejects.toThrow(/onnx\/model\.onnx.*onnx\/model_fp16\.onnx/);
  });
});
