// crossrank in the CPU benchmark, with the same JOB protocol as the other peers
// (see python_peers.py). Also reports, per workload, the token count of its pairs (for FLOPs) and
// the event-loop delay p99 while it ran, and what the scheduler did (ce.stats()).
//   node bench/peers/crossrank_peer.mjs JOB.json > results.json
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import { CrossEncoder } from '../../dist/index.js';
import { statsSince, timed } from '../lib/protocol.mjs';

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const ce = await CrossEncoder.load(job.model_dir, {
  modelFile: job.onnx,
  threads: job.threads,
  device: job.device ?? 'cpu',
  ...(job.concurrent_runs ? { concurrentRuns: job.concurrent_runs } : {}),
  ...(job.tokenizer_threads ? { tokenizerThreads: job.tokenizer_threads } : {}),
});
if (job.device === 'cuda' && ce.info.device !== 'cuda') throw new Error(`asked for cuda, got ${ce.info.deviceReason}`);

// batch_size null: crossrank's own batching (token budget), as a user gets it by default.
const batching = (w) => (w.batch_size == null ? {} : { batchSize: w.batch_size });

function make(w, data) {
  if (w.kind === 'tokenize') return () => ce.tokenize(data);
  if (w.kind === 'rerank') {
    return async () => {
      for (const s of data) await ce.rerank(s.query, s.documents, batching(w));
    };
  }
  return () => ce.predict(data, batching(w));
}

async function tokenCounts(w, data) {
  const pairs = w.kind === 'rerank' ? data.flatMap((s) => s.documents.map((d) => [s.query, d])) : data;
  const { ids } = await ce.tokenize(pairs);
  return ids.map((a) => a.length);
}

async function rerankScores(sets) {
  const out = [];
  for (const s of sets) out.push(Array.from(await ce.predict(s.documents.map((d) => [s.query, d]))));
  return out;
}

const results = [];
for (const w of job.workloads) {
  const data = JSON.parse(readFileSync(w.data, 'utf8'));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const before = ce.stats();
  const { seconds, items, parts } = await timed(w, data, make);
  histogram.disable();
  const after = ce.stats();
  results.push({
    name: w.name,
    seconds,
    items,
    // tokens of the first timed part: FLOPs per pair follow from these
    tokens: w.kind === 'tokenize' ? undefined : await tokenCounts(w, parts[0]),
    event_loop_p99_ms: histogram.percentile(99) / 1e6,
    event_loop_max_ms: histogram.max / 1e6,
    // The scheduler over the workload (warm-up included): padding, and whether windows started
    // early because tokenization was behind inference.
    scheduler: statsSince(before, after),
    // every rerank list's scores, once after the timing: bench/run.mjs sets quality beside speed
    scores: w.kind === 'rerank' ? await rerankScores(data) : undefined,
  });
  process.stderr.write(`crossrank: ${w.name} done\n`);
}
await ce.close();
process.stdout.write(
  JSON.stringify({
    system: 'crossrank',
    versions: { crossrank: '0.1.0', onnxruntime: ce.info.onnxruntimeVersion },
    device: { device: ce.info.device, reason: ce.info.deviceReason, providers: ce.info.providers, concurrentRuns: ce.info.concurrentRuns, inputMemory: ce.info.inputMemory },
    results,
  }),
);
