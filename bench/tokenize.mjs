// Tokenizer cost by kind of text: CPU microseconds per pair of `tokenize()` on one tokenizer
// thread (median of 7 calls of 4,000 MS MARCO-like pairs), for ASCII passages, passages with one
// accented word, passages with punctuation or an accented word every eighth word, and passages
// in Cyrillic and in accented Greek letters. CPU time, not wall time: on a shared 2-core machine
// it moves less with neighbours. Alternate the builds under test (CROSSRANK_ADDON) between runs.
//
//   node bench/tokenize.mjs MODEL_DIR
import { CrossEncoder } from '../dist/index.js';
import { makePairs, vocabularyWords } from './lib/pairs.mjs';
import { median } from './lib/report.mjs';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/tokenize.mjs MODEL_DIR');
const n = 4000;
const ascii = makePairs(vocabularyWords(`${dir}/tokenizer.json`), n, 21);
const passages = (fn) => ascii.map(([query, passage]) => [query, fn(passage)]);
const shiftLetters = (text, base, span) => text.replace(/[a-z]/g, (c) => String.fromCharCode(base + ((c.charCodeAt(0) - 97) % span)));
const kinds = {
  ascii,
  'one accented word': passages((p) => p.replace(' ', ' café ')),
  'every 8th word accented or quoted': passages((p) =>
    p.split(' ').map((w, i) => (i % 8 !== 3 ? w : i % 16 === 3 ? `${w}–naïve` : `“${w}”`)).join(' '),
  ),
  Cyrillic: passages((p) => shiftLetters(p, 0x430, 26)),
  'accented Greek': passages((p) => shiftLetters(p, 0x3ac, 20)),
};

const ce = await CrossEncoder.load(dir, { tokenizerThreads: 1 });
await ce.tokenize(ascii.slice(0, 200));
const cells = [];
for (const [name, pairs] of Object.entries(kinds)) {
  const micros = [];
  for (let r = 0; r < 7; r++) {
    const start = process.cpuUsage();
    await ce.tokenize(pairs);
    const used = process.cpuUsage(start);
    micros.push((used.user + used.system) / n);
  }
  cells.push(`${name} ${median(micros).toFixed(1)}`);
}
console.log(`${dir.split('/').pop()}, CPU us per pair: ${cells.join(' | ')}`);
await ce.close();
