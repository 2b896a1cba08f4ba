// crossrank as a line-protocol scorer for Python benches that time a session's run() call by call
// (bench/int8_openvino_trained.py): one JSON array of [query, passage] pairs per stdin line, one JSON
// array of logits per stdout line, in order. Tokenization is crossrank's own, from the folder's
// tokenizer.json; batching is crossrank's default (its token budget), as a user gets it.
//   node bench/peers/crossrank_lines.mjs MODEL_DIR '{"precision":"int8","maxLength":128,"threads":2}'
import { createInterface } from 'node:readline';

import { CrossEncoder } from '../../dist/index.js';

const [dir, options] = [process.argv[2], JSON.parse(process.argv[3] ?? '{}')];
const ce = await CrossEncoder.load(dir, { activation: 'identity', ...options });
// The first line says what was loaded: the file and why (info.precisionChoice).
process.stdout.write(`${JSON.stringify({ modelPath: ce.info.modelPath, precisionChoice: ce.info.precisionChoice ?? null })}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  process.stdout.write(`${JSON.stringify(Array.from(await ce.predict(JSON.parse(line))))}\n`);
}
await ce.close();
