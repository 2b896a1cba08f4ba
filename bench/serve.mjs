#!/usr/bin/env node
// crossrank serve under load, beside the library in process.
//
//   node bench/serve.mjs [--model DIR] [--duration 10] [--connections 1,16,64] [--docs 100] [--json]
//
// For each connection count: autocannon drives `crossrank serve` (a child process, 127.0.0.1)
// with TEI /rerank requests of 1 query x --docs documents for --duration seconds; then the same
// model, loaded in this process, is called by as many concurrent rerank() loops for as long.
// Reports docs/s, p50/p99 latency and errors of each, and the HTTP share of docs/s. A last row
// overloads a server started with a small --max-queued-pairs at the highest connection count:
// every answer must be 200 or 429 (never 5xx, never a crash), and the server's RSS is sampled
// each second to show it settles. Default model: test/fixtures/models/bert-tiny, a random-weight
// fixture: its numbers are speed only. Needs `npm run build` (dist/cli.js) and devDependency autocannon.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(ROOT, 'test/fixtures/models/bert-tiny') },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '1,16,64' },
    docs: { type: 'string', default: '100' },
    'overload-queue': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const connections = values.connections.split(',').map(Number);
const nDocs = Number(values.docs);

// MS MARCO-like texts: a 6-word query, passages of 40-70 words, all distinct (rerank scores each distinct text once).
const VOCAB = 'the of and to in is for that on with as by was from at are this be it an which or have its not has can were their also more one all other used into most may after these such only during where between'.split(' ')
  .concat('river stone query light paper green house music north cloud train apple system model data search rank document learning network energy water city history science market health'.split(' '));
let seed = 42;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
const words = (n) => Array.from({ length: n }, () => VOCAB[Math.floor(rand() * VOCAB.length)]).join(' ');
const query = words(6);
const docs = Array.from({ length: nDocs }, () => words(40 + Math.floor(rand() * 31)));
const body = JSON.stringify({ query, texts: docs });

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** A free port on 127.0.0.1 (the server then logs only warnings, so readiness is polled on /health). */
async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startServer(extra = []) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli.js'), 'serve', '--model', values.model, '--port', String(port), '--log-level', 'warn', '--max-client-batch-size', String(Math.max(nDocs, 1024)), ...extra], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const url = `http://127.0.0.1:${port}`;
  for (;;) {
    if (exited) throw new Error('crossrank serve exited before it was ready');
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) return { child, url };
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM; resolves with the exit code and how long the drain took. */
async function stopServer({ child }) {
  const t = performance.now();
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  child.kill('SIGTERM');
  const code = await exited;
  return { code, ms: Math.round(performance.now() - t) };
}

async function viaHttp(url, c) {
  const r = await autocannon({ url: `${url}/rerank`, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections: c, duration, timeout: 120 });
  const ok = r['2xx'];
  return {
    docsPerSec: (ok * nDocs) / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx,
    statuses: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([k, v]) => [k, v.count])),
  };
}

async function inProcess(model, c) {
  const latencies = [];
  let done = 0;
  let errors = 0;
  const until = performance.now() + duration * 1000;
  // Counted as autocannon counts: calls that complete within the duration, over the duration.
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (performance.now() < until) {
        const t = performance.now();
        try {
          await model.rerank(query, docs);
          const end = performance.now();
          if (end <= until) {
            done++;
            latencies.push(end - t);
          }
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { docsPerSec: (done * nDocs) / duration, p50: pct(latencies, 50), p99: pct(latencies, 99), errors };
}

// HTTP and in-process rows alternate, so that both see the same background load.
const { CrossEncoder } = await import(join(ROOT, 'dist/index.js'));
const model = await CrossEncoder.load(values.model);
const rows = [];
const server = await startServer();
for (const c of connections) {
  const http = await viaHttp(server.url, c);
  rows.push({ connections: c, http, inProcess: await inProcess(model, c) });
}
await model.close();
const exitCode = await stopServer(server);

// Past the queue limit: only 200 and 429, and RSS settles.
const maxC = Math.max(...connections);
const over = await startServer(['--max-queued-pairs', values['overload-queue'], '--grace', '20']);
const rss = [];
const sampler = setInterval(() => rss.push(Math.round(rssOf(over.child.pid))), 1000);
const overload = await viaHttp(over.url, maxC);
clearInterval(sampler);
const overloadExit = await stopServer(over);

const report = {
  model: values.model,
  note: 'bert-tiny is a random-weight fixture: these numbers are speed only',
  docsPerRequest: nDocs,
  durationSeconds: duration,
  rows: rows.map((r) => ({ ...r, httpShare: r.http.docsPerSec / r.inProcess.docsPerSec })),
  serverExit: exitCode,
  overload: { connections: maxC, maxQueuedPairs: Number(values['overload-queue']), statuses: overload.statuses, docsPerSec: overload.docsPerSec, rssMiB: rss, exit: overloadExit },
};
if (values.json) console.log(JSON.stringify(report, null, 2));
else {
  console.log(`model ${report.model} (${report.note}); ${nDocs} docs a request, ${duration} s a row`);
  console.log('conns | HTTP docs/s   p50 ms   p99 ms  errors | in-process docs/s   p50 ms   p99 ms | HTTP / in-process');
  for (const r of report.rows) {
    const f = (x, w, d = 0) => x.toFixed(d).padStart(w);
    console.log(`${String(r.connections).padStart(5)} | ${f(r.http.docsPerSec, 11)} ${f(r.http.p50, 8, 1)} ${f(r.http.p99, 8, 1)} ${String(r.http.errors).padStart(7)} | ${f(r.inProcess.docsPerSec, 17)} ${f(r.inProcess.p50, 8, 1)} ${f(r.inProcess.p99, 8, 1)} | ${(r.httpShare * 100).toFixed(1).padStart(6)} %`);
  }
  console.log(`server exit on SIGTERM: ${JSON.stringify(exitCode)}`);
  console.log(`overload (${maxC} connections, --max-queued-pairs ${report.overload.maxQueuedPairs}): statuses ${JSON.stringify(overload.statuses)}, ${overload.docsPerSec.toFixed(0)} docs/s, RSS MiB each second ${JSON.stringify(rss)}, exit ${JSON.stringify(overloadExit)}`);
}
const bad = Object.keys(overload.statuses).filter((s) => s !== '200' && s !== '429');
if (bad.length || overloadExit.code !== 0 || exitCode.code !== 0) {
  console.error(`FAIL: statuses ${bad.join(', ') || '-'}, exits ${JSON.stringify(exitCode)}/${JSON.stringify(overloadExit)}`);
  process.exitCode = 1;
}
