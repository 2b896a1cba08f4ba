// How far a pair's score moves between scored alone and scored inside a full call, for a model
// whose graph quantizes activations dynamically (info.batchDependent). Scores are logits
// (activation 'identity'). Prints the largest and the mean absolute move over the sampled pairs,
// and how many of them moved at all.
//
//   node bench/batch_dependence.mjs MODEL_DIR [PRECISION] [N] [SAMPLES] [fixture]
//   (pairs: N from bench/lib/pairs.mjs, or with `fixture` the 305 of test/fixtures/pairs.json)
import { readFileSync } from 'node:fs';

import { CrossEncoder } from '../dist/index.js';
import { makePairs, vocabularyWords } from './lib/pairs.mjs';

const [dir, precision = 'int8', n = '1000', samples = '100', source = ''] = process.argv.slice(2);
const pairs =
  source === 'fixture'
    ? JSON.parse(readFileSync(new URL('../test/fixtures/pairs.json', import.meta.url), 'utf8')).pairs
    : makePairs(vocabularyWords(`${dir}/tokenizer.json`), Number(n), 21);
const ce = await CrossEncoder.load(dir, { precision });
const together = await ce.predict(pairs, { activation: 'identity' });
const step = Math.max(1, Math.floor(pairs.length / Number(samples)));
let worst = 0;
let sum = 0;
let moved = 0;
let count = 0;
let spread = [Infinity, -Infinity];
for (const v of together) spread = [Math.min(spread[0], v), Math.max(spread[1], v)];
for (let i = 0; i < pairs.length; i += step) {
  const [alone] = await ce.predict([pairs[i]], { activation: 'identity' });
  const d = Math.abs(alone - together[i]);
  worst = Math.max(worst, d);
  sum += d;
  moved += d > 0 ? 1 : 0;
  count++;
}
console.log(
  `${dir.split('/').pop()} ${precision} (batchDependent ${ce.info.batchDependent}): ${pairs.length} pairs in one call vs ${count} of them alone: ` +
    `logit moves max ${worst.toPrecision(3)}, mean ${(sum / count).toPrecision(3)}, ${moved} of ${count} moved; logits span ${spread[0].toFixed(3)} to ${spread[1].toFixed(3)}`,
);
await ce.close();
