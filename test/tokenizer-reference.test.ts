// Token ids of random pairs against the Python `tokenizers` package: the same Rust core, run
// through its own pipeline. The text is mostly ASCII that a BERT normalizer must clean up (capitals,
// controls, tabs and newlines, DEL, text that spells special tokens in any case), because crossrank
// normalizes printable ASCII itself (native/tokenizers/src/bert_shortcut.rs). A third of the pairs
// carry non-ASCII text (accents precomposed and combining, marks around controls, case changes
// that leave ASCII, CJK, Hangul, Unicode spaces, punctuation and format characters), which the
// crate's normalizer handles run by run. Short max lengths exercise truncation.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { FIXTURES, type ModelName, PYTHON, modelDir } from './helpers.js';

const fragments = [
  ...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  ...' '.repeat(12),
  ...'.,;:!?\'"()[]{}#$%&*+-/<=>@\\^_`|~',
  '\t', '\n', '\r', '\x0b', '\x0c', '\x00', '\x01', '\x1b', '\x1f', '\x7f',
  '[CLS]', '[cls]', '[SEP]', '[Sep]', '[MASK]', '[mask]', '[PAD]', '[UNK]', '[unk]', '[C\x01LS]', '[SE\tP]', '##',
  'Hello', 'WORLD', 'vaccines', 'Immune', 'unbelievable', 'COVID-19',
];
const nonAscii = [
  'é', 'Ünïcödé', 'e\u0301', '\u0301', 'a\u0308\u0323', '\u0301\x01\u0323', '\u{1d16d}\x01\u{1d165}', '中文', '한국어',
  '\u00a0', '\u3000', '\u2028', '\u0085', '\u200d', '\ufeff', '\ufffd', 'İ', 'K', 'ΣΑΣ', 'ß', 'ﬁ', '😀', '–', '“', '¿', '！', 'कि',
];
const asciiText = fc.array(fc.constantFrom(...fragments), { maxLength: 60 }).map((parts) => parts.join(''));
const mixedText = fc
  .tuple(asciiText, fc.constantFrom(...nonAscii), asciiText)
  .map(([a, b, c]) => a + b + c);
const text = fc.oneof({ arbitrary: asciiText, weight: 2 }, { arbitrary: mixedText, weight: 1 });

function reference(tokenizer: string, maxLength: number, pairs: [string, string][]) {
  const run = spawnSync(PYTHON, [join(FIXTURES, 'encode_reference.py')], {
    input: JSON.stringify({ tokenizer, max_length: maxLength, truncate_left: false, pairs }),
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 120_000,
  });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { ids: number[][]; type_ids: number[][] };
}

const cases: [ModelName, number][] = [
  ['bert-tiny', 512],
  ['bert-tiny', 24],
  ['electra-tiny', 512],
  ['electra-tiny', 9],
];

describe('token ids of random text equal the Python tokenizers package', () => {
  it.each(cases)('%s, max length %i', async (name, maxLength) => {
    const pairs = fc.sample(fc.tuple(text, text), { numRuns: 1500, seed: 20261127 + maxLength });
    const expected = reference(join(modelDir(name), 'tokenizer.json'), maxLength, pairs);
    const model = await CrossEncoder.load(modelDir(name), { maxLength });
    try {
      const { ids, typeIds } = await model.tokenize(pairs);
      for (let i = 0; i < pairs.length; i++) {
        const context = JSON.stringify(pairs[i]);
        expect(Array.from(ids[i]!), context).toEqual(expected.ids[i]);
        expect(Array.from(typeIds[i]!), context).toEqual(expected.type_ids[i]);
      }
    } finally {
      await model.close();
    }
  });
});
