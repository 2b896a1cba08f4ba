// Behaviour of the public API beyond raw parity: activations, rerank semantics, batching and
// concurrency invariants, cancellation, info.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { flat, golden, maxAbsDiff, modelDir, parityPairs } from './helpers.js';

const { pairs } = parityPairs();
const sample = pairs.slice(0, 120);

let bert: CrossEncoder;
let xlmr: CrossEncoder;
beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'));
  xlmr = await CrossEncoder.load(modelDir('xlmr-tiny-3'));
});
afterAll(async () => {
  await bert.close();
  await xlmr.close();
});

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

describe('activations', () => {
  it('follow sentence-transformers defaults: sigmoid for 1 label, identity for several, folder setting wins', async () => {
    expect(bert.info.activation).toBe('sigmoid');
    expect(xlmr.info.activation).toBe('identity');
    const roberta = await CrossEncoder.load(modelDir('roberta-tiny'));
    expect(roberta.info.activation).toBe('identity'); // config.json sentence_transformers.activation_fn
    await roberta.close();
  });

  it('each option transforms the same logits', async () => {
    const logits = await bert.predict(sample, { activation: 'identity' });
    const sig = await bert.predict(sample, { activation: 'sigmoid' });
    const tanh = await bert.predict(sample, { activation: 'tanh' });
    expect(maxAbsDiff(sig, Array.from(logits, sigmoid))).toBeLessThan(1e-6);
    expect(maxAbsDiff(tanh, Array.from(logits, Math.tanh))).toBeLessThan(1e-6);
  });

  it('softmax normalises each row of a multi-label model', async () => {
    const logits = await xlmr.predict(sample, { activation: 'identity' });
    const probs = await xlmr.predict(sample, { activation: 'softmax' });
    expect(probs.length).toBe(sample.length * 3);
    for (let r = 0; r < sample.length; r++) {
      const row = Array.from(logits.subarray(r * 3, r * 3 + 3));
      const top = Math.max(...row);
      const exp = row.map((v) => Math.exp(v - top));
      const sum = exp.reduce((a, b) => a + b, 0);
      for (let l = 0; l < 3; l++) expect(probs[r * 3 + l]).toBeCloseTo((exp[l] as number) / sum, 6);
    }
  });

  it('a load-time activation becomes the default of every call', async () => {
    const raw = await CrossEncoder.load(modelDir('bert-tiny'), { activation: 'identity' });
    expect(raw.info.activation).toBe('identity');
    const a = await raw.predict(sample.slice(0, 20));
    const b = await bert.predict(sample.slice(0, 20), { activation: 'identity' });
    expect(maxAbsDiff(a, b)).toBe(0);
    await raw.close();
  });
});

describe('multi-label predict', () => {
  it('returns numLabels scores per pair, row-major, with labels from config.json', async () => {
    const g = golden('xlmr-tiny-3');
    const scores = await xlmr.predict(pairs);
    expect(scores.length).toBe(pairs.length * 3);
    expect(maxAbsDiff(scores, flat(g.scores))).toBeLessThanOrEqual(1e-4);
    expect(xlmr.info.labels).toEqual(['contradiction', 'entailment', 'neutral']);
  });
});

describe('rerank', () => {
  const query = 'what causes the seasons on earth';
  const docs = [
    'The tilt of the Earth axis causes the seasons.',
    'Paris is the capital of France.',
    'The tilt of the Earth axis causes the seasons.',
    'Bananas are rich in potassium.',
    '',
    'Seasons change because the Earth is tilted relative to its orbit.',
  ];

  it('sorts by score, best first, with exactly the scores predict gives', async () => {
    const hits = await bert.rerank(query, docs);
    const scores = await bert.predict(docs.map((d) => [query, d] as [string, string]));
    expect(hits.map((h) => h.index).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (let i = 1; i < hits.length; i++) expect(hits[i - 1]!.score).toBeGreaterThanOrEqual(hits[i]!.score);
    for (const h of hits) expect(Math.abs(h.score - scores[h.index]!)).toBeLessThan(1e-6);
  });

  it('breaks ties by index: repeated documents get identical scores, lower index first', async () => {
    const hits = await bert.rerank(query, docs);
    const p0 = hits.findIndex((h) => h.index === 0);
    const p2 = hits.findIndex((h) => h.index === 2);
    expect(hits[p0]!.score).toBe(hits[p2]!.score);
    expect(p2).toBe(p0 + 1);
  });

  it('topK bounds: 0 gives [], larger than the list gives all, 1 gives the best', async () => {
    const all = await bert.rerank(query, docs);
    expect(await bert.rerank(query, docs, { topK: 0 })).toEqual([]);
    expect(await bert.rerank(query, docs, { topK: 100 })).toEqual(all);
    expect(await bert.rerank(query, docs, { topK: 1 })).toEqual(all.slice(0, 1));
  });

  it('returnDocuments adds each text; without it there is no document key', async () => {
    const withDocs = await bert.rerank(query, docs, { returnDocuments: true });
    for (const h of withDocs) expect(h.document).toBe(docs[h.index]);
    const bare = await bert.rerank(query, docs);
    for (const h of bare) expect('document' in h).toBe(false);
  });

  it('an empty document list returns []', async () => {
    expect(await bert.rerank(query, [])).toEqual([]);
  });
});

describe('batching and concurrency invariants', () => {
  it('batch sizes 1, 7, 32 and 512 and tight token budgets give the same scores', async () => {
    const reference = await bert.predict(sample, { batchSize: 32 });
    for (const batchSize of [1, 7, 512]) {
      expect(maxAbsDiff(await bert.predict(sample, { batchSize }), reference)).toBeLessThan(1e-5);
    }
    expect(maxAbsDiff(await bert.predict(sample, { maxBatchTokens: 1 }), reference)).toBeLessThan(1e-5);
  });

  it('concurrent predict calls on one model equal sequential ones', async () => {
    const chunks = Array.from({ length: 8 }, (_, i) => pairs.slice(i * 30, i * 30 + 30));
    const sequential: Float32Array[] = [];
    for (const c of chunks) sequential.push(await bert.predict(c));
    const concurrent = await Promise.all(chunks.map((c) => bert.predict(c)));
    concurrent.forEach((scores, i) => expect(maxAbsDiff(scores, sequential[i]!)).toBeLessThan(1e-6));
  });

  it('the event loop keeps running while a call is in flight', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const many = Array.from({ length: 2000 }, (_, i) => pairs[i % pairs.length]!);
    await bert.predict(many);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });

  it('predict of no pairs is an empty Float32Array', async () => {
    const out = await bert.predict([]);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out.length).toBe(0);
  });
});

describe('text edge cases', () => {
  it('lone surrogates are read as U+FFFD, never a crash', async () => {
    const [a, b] = await Promise.all([
      bert.predict([['query \ud800 x', 'doc \udfff y']]),
      bert.predict([['query \ufffd x', 'doc \ufffd y']]),
    ]);
    expect(a[0]).toBe(b[0]);
  });

  it('a 1 MB document is truncated to the max length', async () => {
    const huge = 'lorem ipsum dolor sit amet '.repeat(40_000);
    const { ids } = await bert.tokenize([['q', huge]]);
    expect(ids[0]!.length).toBe(bert.info.maxLength);
    const scores = await bert.predict([['q', huge]]);
    expect(Number.isFinite(scores[0])).toBe(true);
  });

  it('maxLength option truncates earlier and is bounded by the model', async () => {
    const short = await CrossEncoder.load(modelDir('bert-tiny'), { maxLength: 16 });
    const { ids } = await short.tokenize([['a b c d e f g h', 'i j k l m n o p q r s t u v w']]);
    expect(ids[0]!.length).toBe(16);
    await short.close();
    await expect(CrossEncoder.load(modelDir('bert-tiny'), { maxLength: 513 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});

describe('cancellation', () => {
  it('an already aborted signal rejects with ABORTED', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(bert.predict(sample, { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('aborting during a long call rejects it with ABORTED', async () => {
    const controller = new AbortController();
    const many = Array.from({ length: 20_000 }, (_, i) => pairs[i % pairs.length]!);
    const call = bert.predict(many, { signal: controller.signal, batchSize: 8 });
    setTimeout(() => controller.abort(), 5);
    await expect(call).rejects.toMatchObject({ code: 'ABORTED' });
  });
});

describe('info', () => {
  it('describes the model and where it runs', () => {
    const info = bert.info;
    expect(info).toMatchObject({
      modelType: 'bert',
      architecture: 'BertForSequenceClassification',
      numLabels: 1,
      maxLength: 512,
      device: 'cpu',
      providers: ['CPUExecutionProvider'],
      concurrentRuns: 1, // one run already uses every core on a CPU
      inputMemory: 'cpu',
      output: 'logits',
      outputType: 'float32',
    });
    expect(info.inputs.sort()).toEqual(['attention_mask', 'input_ids', 'token_type_ids']);
    expect(info.onnxruntimeVersion).toMatch(/^1\.29\./);
  });

  it("device 'auto' picks the CPU here and says why", async () => {
    const m = await CrossEncoder.load(modelDir('bert-tiny'), { device: 'auto' });
    expect(m.info.device).toBe('cpu');
    expect(m.info.deviceReason).toMatch(/CPU/);
    expect(m.info.inputMemory).toBe('cpu');
    await m.close();
    expect(m.info.inputMemory).toBe('cpu'); // read live while open, from the load snapshot once closed
  });
});
