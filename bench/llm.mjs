// crossrank side of bench/llm.py: reads {model, precision, query, docs, threads, reps} on stdin,
// loads the converted folder with `threads` intra-op threads, one warm-up rerank, then `reps` timed
// ones; prints {times (s), logits (identity, document order), tokens per prompt} as one JSON line.
import { CrossEncoder } from '../dist/index.js';

let input = '';
for await (const chunk of process.stdin) input += chunk;
const spec = JSON.parse(input);
const model = await CrossEncoder.load(spec.model, { precision: spec.precision, threads: spec.threads });
await model.rerank(spec.query, spec.docs);
const times = [];
for (let i = 0; i < spec.reps; i++) {
  const t = process.hrtime.bigint();
  await model.rerank(spec.query, spec.docs);
  times.push(Number(process.hrtime.bigint() - t) / 1e9);
}
const logits = Array.from(await model.predict(spec.docs.map((d) => [spec.query, d]), { activation: 'identity' }));
const { ids } = await model.tokenize(spec.docs.map((d) => [spec.query, d]));
await model.close();
console.log(JSON.stringify({ times, logits, tokens: ids.map((row) => row.length), file: model.info?.modelPath }));
