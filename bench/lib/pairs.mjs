// MS MARCO-like query/passage pairs, generated deterministically from a seed so that every system
// in a run (and every run) scores the same text. Lengths follow MS MARCO: queries about 6 words,
// passages about 56 words on average with a long tail (log-normal), words from the real
// bert-base-uncased vocabulary so that WordPiece lengths are realistic.
import { readFileSync } from 'node:fs';

/** mulberry32: small, fast, good enough for workload generation. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(next) {
  const u = Math.max(next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
}

/** Whole words of the WordPiece vocabulary (no ## pieces, no special or unused tokens). */
export function vocabularyWords(tokenizerJsonPath) {
  const vocab = JSON.parse(readFileSync(tokenizerJsonPath, 'utf8')).model.vocab;
  return Object.keys(vocab).filter((w) => /^[a-z]{2,}$/.test(w));
}

function text(next, words, n) {
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = words[Math.floor(next() * words.length)];
  if (n > 0) out[0] = out[0][0].toUpperCase() + out[0].slice(1);
  return out.join(' ') + (next() < 0.8 ? '.' : '');
}

const queryWords = (next) => Math.max(2, Math.min(14, Math.round(6 + 2 * normal(next))));
// log-normal with mean ~56 words: exp(mu + sigma^2 / 2) = 56 with sigma 0.45
const passageWords = (next) => Math.max(5, Math.min(400, Math.round(Math.exp(3.925 + 0.45 * normal(next)))));

/** count pairs of (query, passage). `longWords`: fixed passage length for the long-input run. */
export function makePairs(words, count, seed, longWords = 0) {
  const next = rng(seed);
  const pairs = new Array(count);
  for (let i = 0; i < count; i++) {
    pairs[i] = [text(next, words, queryWords(next)), text(next, words, longWords || passageWords(next))];
  }
  return pairs;
}

/** queries x docsPerQuery rerank requests (the BEIR top-100 protocol). */
export function makeRerankSets(words, queries, docsPerQuery, seed) {
  const next = rng(seed);
  return Array.from({ length: queries }, () => ({
    query: text(next, words, queryWords(next)),
    documents: Array.from({ length: docsPerQuery }, () => text(next, words, passageWords(next))),
  }));
}
