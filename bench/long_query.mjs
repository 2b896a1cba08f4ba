// A rerank with a very long query: one call of a QUERY_BYTES query against DOCS short documents
// (issue 19, point 9: the query used to be tokenized once per document). Prints the median of 3
// calls after one warm-up. Alternate builds through CROSSRANK_ADDON.
//
//   node bench/long_query.mjs [MODEL_DIR] [QUERY_BYTES] [DOCS]
import { CrossEncoder } from '../dist/index.js';

const dir = process.argv[2] ?? 'test/fixtures/models/bert-tiny';
const bytes = Number(process.argv[3] ?? 1 << 20);
const docs = Number(process.argv[4] ?? 100);
const words = ['berlin', 'population', 'museum', 'river', 'city', 'history', 'wall', 'culture', 'people', 'live'];
let query = '';
for (let i = 0; query.length < bytes; i++) query += `${words[(i * 7) % words.length]} `;
query = query.slice(0, bytes);
const documents = Array.from({ length: docs }, (_, i) => `document ${i} about ${words[i % words.length]} and ${words[(i * 3) % words.length]}`);
const ce = await CrossEncoder.load(dir);
await ce.rerank(query, documents.slice(0, 2));
const times = [];
for (let r = 0; r < 3; r++) {
  const t = performance.now();
  await ce.rerank(query, documents, { topK: 10 });
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);
console.log(`${dir.split('/').pop()}: ${(bytes / 1048576).toFixed(2)} MB query x ${docs} documents: ${times[1].toFixed(0)} ms (median of 3; all ${times.map((t) => t.toFixed(0)).join(', ')})`);
await ce.close();
