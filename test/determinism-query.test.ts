// A rerank tokenizes its query once per call (issue 19, point 9) and each pair then runs the
// tokenizer crate's own post-processing on it: the scores must be those of the same pairs sent
// through predict(), bit for bit (same pairs in the same order make the same batches), for every
// fixture model, with pairs truncated on either side. native/tokenizers' cargo test compares the
// ids themselves with the crate's encode_fast.
import { describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { modelDir, parityPairs } from './helpers.js';

const { pairs, rank_cases: rankCases } = parityPairs();
const longQuery = pairs.slice(0, 40).map(([q]) => q).join(' ');
const passages = [...new Set(pairs.map(([, d]) => d))].slice(0, 60);
const cases = [
  ...rankCases.map((c) => ({ query: c.query, documents: [...new Set(c.documents)] })),
  // Longer than any max length: the query side is cut too, against short and long passages.
  { query: longQuery, documents: passages },
];

function bits(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

// The fixture models with one label (rerank refuses xlmr-tiny-3's three; its tokenizer is in the
// cargo test with the others).
describe.each(['bert-tiny', 'electra-tiny', 'roberta-tiny'] as const)('%s: rerank (query tokenized once) scores equal predict on the same pairs', (name) => {
  it.each([undefined, 24])('maxLength %s', async (maxLength) => {
    const model = await CrossEncoder.load(modelDir(name), maxLength === undefined ? {} : { maxLength });
    try {
      for (const { query, documents } of cases) {
        const hits = await model.rerank(query, documents);
        const viaRerank = new Float32Array(documents.length);
        for (const h of hits) viaRerank[h.index] = h.score;
        const viaPredict = await model.predict(documents.map((d): [string, string] => [query, d]));
        expect(bits(viaRerank)).toBe(bits(viaPredict));
      }
    } finally {
      await model.close();
    }
  });
});
