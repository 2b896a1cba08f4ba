#!/usr/bin/env node
// `npm run example`: reranks three sentences with cross-encoder/ms-marco-MiniLM-L6-v2 from the
// Hugging Face hub (downloaded once into the HF cache). Without network (or with HF_HUB_OFFLINE=1
// and nothing cached) it falls back to the bundled test model and says why.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { CrossEncoder } from '../dist/index.js';

const MODEL = 'cross-encoder/ms-marco-MiniLM-L6-v2';
const FALLBACK = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'models', 'bert-tiny');
const query = 'how do vaccines train the immune system';
const documents = [
  'Vaccines expose the immune system to a harmless piece of a pathogen so it learns to recognise it.',
  'The Eiffel Tower was completed in 1889 for the World Fair in Paris.',
  'Antibodies produced after vaccination protect against later infection.',
];

let model;
try {
  model = await CrossEncoder.load(MODEL, {
    onProgress: (p) => process.stderr.write(`\rdownloading ${p.file}: ${(p.loaded / 1e6).toFixed(1)} of ${(p.total / 1e6).toFixed(1)} MB`),
  });
  process.stderr.write('\n');
} catch (error) {
  console.log(`Note: cannot load ${MODEL} from the hub (${error.code ?? 'error'}: ${error.message})`);
  console.log('Falling back to the bundled TEST model (random weights): the scores below show the API, not relevance.');
  model = await CrossEncoder.load(FALLBACK);
}
try {
  const { hub } = model.info;
  console.log(`model: ${hub ? `${hub.repo} (commit ${hub.commit.slice(0, 12)}, ${hub.file})` : model.info.dir}`);
  console.log(`query: ${query}`);
  for (const [rank, hit] of (await model.rerank(query, documents, { returnDocuments: true })).entries()) {
    console.log(`${String(rank + 1).padStart(3)}. ${hit.score.toFixed(4)}  ${hit.document}`);
  }
} finally {
  await model.close();
}
