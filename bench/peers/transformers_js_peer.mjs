// transformers.js peer of the CPU benchmark: what a Node user picks today. Same protocol and JOB
// format as python_peers.py; system "transformers.js" or "transformers.js-tokenizer". With "int8":
// true it runs onnx/model_quantized.onnx (transformers.js's dtype 'q8'), the file crossrank-int8 runs.
//   node bench/peers/transformers_js_peer.mjs JOB.json > results.json
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';

import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';

import { timed } from '../lib/protocol.mjs';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
env.allowRemoteModels = false;
env.allowLocalModels = true;
env.localModelPath = dirname(job.model_dir) + '/';
const name = basename(job.model_dir);

const tokenizer = await AutoTokenizer.from_pretrained(name);
const model =
  job.system === 'transformers.js'
    ? await AutoModelForSequenceClassification.from_pretrained(name, {
        dtype: job.int8 ? 'q8' : 'fp32',
        device: 'cpu',
        session_options: { intraOpNumThreads: job.threads, interOpNumThreads: 1 },
      })
    : undefined;

async function score(queries, docs, batchSize) {
  const out = new Float32Array(queries.length);
  for (let i = 0; i < queries.length; i += batchSize) {
    const inputs = tokenizer(queries.slice(i, i + batchSize), {
      text_pair: docs.slice(i, i + batchSize),
      padding: true,
      truncation: true,
      max_length: 512,
    });
    const { logits } = await model(inputs);
    const data = logits.data;
    for (let r = 0; r < data.length; r++) out[i + r] = 1 / (1 + Math.exp(-data[r]));
  }
  return out;
}

function make(w, data) {
  if (w.kind === 'tokenize') {
    const q = data.map((p) => p[0]);
    const d = data.map((p) => p[1]);
    return async () => tokenizer(q, { text_pair: d, truncation: true, max_length: 512, return_tensor: false });
  }
  if (w.kind === 'rerank') {
    return async () => {
      for (const s of data) {
        const scores = await score(s.documents.map(() => s.query), s.documents, w.batch_size);
        Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a]);
      }
    };
  }
  const q = data.map((p) => p[0]);
  const d = data.map((p) => p[1]);
  return () => score(q, d, w.batch_size);
}

const results = [];
for (const w of job.workloads) {
  const data = JSON.parse(readFileSync(w.data, 'utf8'));
  const { seconds, items } = await timed(w, data, make);
  results.push({ name: w.name, seconds, items });
  process.stderr.write(`${job.system}: ${w.name} done\n`);
}
const pkg = JSON.parse(readFileSync(new URL('../../node_modules/@huggingface/transformers/package.json', import.meta.url), 'utf8'));
process.stdout.write(JSON.stringify({ system: job.system, versions: { 'transformers.js': pkg.version }, results }));
