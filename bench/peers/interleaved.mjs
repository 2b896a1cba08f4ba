// Same-run speed of several crossrank loads of one folder, interleaved so that a noisy host (a shared
// VM drifts 20% between minutes) hits every row alike: ROUNDS rounds, each timing every row for
// WINDOW seconds in turn, batches of 32 pairs; the median round's pairs/s per row is reported.
//   node bench/peers/interleaved.mjs MODEL_DIR PAIRS.json '{"fp32":{},"int8":{"precision":"int8"}}' [ROUNDS] [WINDOW]
// PAIRS.json: [[query, passage], ...] (bench/int8_openvino_trained.py --interleaved writes the study's
// speed pairs). Prints one JSON object: {row: {median, rounds: [pairs/s...]}}.
import { readFileSync } from 'node:fs';

import { CrossEncoder } from '../../dist/index.js';

const [dir, pairsFile, rowsJson, rounds = '7', window = '3'] = process.argv.slice(2);
const pairs = JSON.parse(readFileSync(pairsFile, 'utf8'));
const rows = Object.entries(JSON.parse(rowsJson));
const loaded = [];
for (const [name, options] of rows) {
  const ce = await CrossEncoder.load(dir, { activation: 'identity', maxLength: 128, threads: 2, ...options });
  await ce.predict(pairs.slice(0, 32)); // warm-up
  loaded.push([name, ce]);
}
const seen = Object.fromEntries(rows.map(([name]) => [name, []]));
for (let r = 0; r < Number(rounds); r++) {
  for (const [name, ce] of loaded) {
    let done = 0;
    let i = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    while (elapsed < Number(window)) {
      const batch = pairs.slice(i, i + 32);
      i = (i + 32) % (pairs.length - 31);
      await ce.predict(batch);
      done += batch.length;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    seen[name].push(done / elapsed);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const out = Object.fromEntries(Object.entries(seen).map(([name, xs]) => [name, { median: median(xs), rounds: xs }]));
process.stdout.write(`${JSON.stringify(out)}\n`);
for (const [, ce] of loaded) await ce.close();
