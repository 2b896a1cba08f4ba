#!/usr/bin/env node
// A fleet of `crossrank serve` replicas behind HAProxy, on 127.0.0.1: rolling restart, crash, scale.
//
//   node bench/fleet.mjs [--short] [--replicas 3] [--threads 1] [--connections 16] [--docs 20]
//                        [--drain-delay 1] [--model DIR] [--control] [--json OUT.json] [--out OUT.md]
//
// HAProxy (Debian's `haproxy`; installed with apt-get when missing and run as root, else the run
// is skipped with exit code 77 and the reason) checks GET /ready every 200 ms (fall 2, rise 2) and
// balances round-robin over --replicas processes of dist/cli.js (`npx tsup` first), each with
// --threads threads. autocannon keeps --connections clients sending TEI POST /rerank (1 query x
// --docs documents, raw_scores) to HAProxy; every answer's scores are compared with the library's
// in this process (CrossEncoder.rerank, identity activation).
//   rolling: SIGTERM one replica, wait for it to exit, start its replacement on the same port, wait
//            until HAProxy has it UP, next. HAProxy retries nothing here (`retries 0`, no
//            redispatch): zero failures must come from the server's drain alone.
//   crash:   SIGKILL one replica under load, with `retry-on conn-failure empty-response
//            response-timeout` and `option redispatch`; failures are counted, not required to be 0.
//   scale:   docs/s through HAProxy with 1, 2, ... replicas enabled (report, not judged).
//   control (--control): the rolling restart again with --drain-delay 0, to show what the delay buys.
// --short is the CI form (test/fleet.test.ts, well under 2 minutes). Everything binds 127.0.0.1
// and is bounded in time; children are killed on exit.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import autocannon from 'autocannon';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    short: { type: 'boolean', default: false },
    replicas: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    connections: { type: 'string', default: '16' },
    docs: { type: 'string', default: '20' },
    'drain-delay': { type: 'string', default: '1' },
    model: { type: 'string', default: join(ROOT, 'test/fixtures/models/bert-tiny') },
    control: { type: 'boolean', default: false },
    json: { type: 'string' },
    out: { type: 'string' },
  },
});
const SHORT = values.short;
const REPLICAS = Number(values.replicas);
const THREADS = Number(values.threads);
const CONNECTIONS = Number(values.connections);
const N_DOCS = Number(values.docs);
const DRAIN_DELAY = Number(values['drain-delay']);
// Seconds of each phase: the short form keeps CI under two minutes on a busy 2-core machine.
const T = SHORT ? { warm: 1, settle: 1, beforeCrash: 1.5, afterCrash: 3, scale: 3 } : { warm: 3, settle: 3, beforeCrash: 3, afterCrash: 6, scale: 10 };
const CHECK = { inter: 200, fall: 2, rise: 2 };
const TOLERANCE = 1e-5; // scores batched with other requests' pairs vs alone: float32 rounding only
const CLI = join(ROOT, 'dist', 'cli.js');

const work = mkdtempSync(join(tmpdir(), 'crossrank-fleet-'));
const children = new Set();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.error('[fleet]', ...a);

function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => process.exit(130));

/** HAProxy's binary: on PATH, in /usr/sbin, or installed now with apt-get (root only). Else a reason to skip. */
function ensureHaproxy() {
  const find = () => {
    for (const p of ['haproxy', '/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) {
      const r = spawnSync(p, ['-v'], { encoding: 'utf8' });
      if (r.status === 0) return { path: p, version: r.stdout.split('\n')[0] };
    }
    return undefined;
  };
  let found = find();
  if (found) return found;
  if (process.getuid?.() !== 0) return { skip: 'haproxy is not installed and this is not root, so apt-get cannot install it (apt-get install haproxy)' };
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  log('haproxy missing: apt-get install -y haproxy');
  let r = spawnSync('apt-get', ['install', '-y', '-qq', 'haproxy'], { env, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { env, timeout: 300_000 });
    r = spawnSync('apt-get', ['install', '-y', '-qq', 'haproxy'], { env, encoding: 'utf8', timeout: 300_000 });
  }
  found = find();
  return found ?? { skip: `haproxy could not be installed with apt-get: ${(r.error?.message ?? r.stderr ?? '').trim().slice(-300)}` };
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** One `crossrank serve` process on a fixed port (a replacement takes the same port, as HAProxy's server line names it). */
function startReplica(port, drainDelay) {
  const args = [CLI, 'serve', '--model', values.model, '--host', '127.0.0.1', '--port', String(port), '--threads', String(THREADS), '--drain-delay', String(drainDelay), '--grace', '10', '--log-level', 'warn'];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-2000)));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal, stderr });
  }));
  return { child, port, exited };
}

/**
 * retries: 'off' (retries 0, no redispatch: every failure reaches the client), 'connect' (HAProxy's
 * defaults: a refused connection is retried 3 times, on another server after the first), 'l7'
 * ('connect' plus replaying a request whose server died before answering).
 */
function haproxyConfig(frontPort, sock, ports, retries) {
  return `global
  nbthread 1
  maxconn 2048
  stats socket ${sock} mode 600 level admin
defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout check 2s
${retries === 'off' ? '  # No retries at all: a request sent to a replica that refuses or drops it fails at the client.\n  retries 0\n  no option redispatch\n' : '  # HAProxy\'s defaults, written out: a refused connection is retried (3 times), on another server\n  # after a first failure (redispatch).\n  retries 3\n  option redispatch 1\n'}${retries === 'l7' ? '  # Replay a request whose server died before answering (the request is buffered).\n  retry-on conn-failure empty-response response-timeout\n' : ''}frontend fe
  bind 127.0.0.1:${frontPort}
  default_backend replicas
backend replicas
  balance roundrobin
  option httpchk GET /ready
  http-check expect status 200
  default-server inter ${CHECK.inter}ms fall ${CHECK.fall} rise ${CHECK.rise}
${ports.map((p, i) => `  server r${i} 127.0.0.1:${p} check`).join('\n')}
`;
}

async function startHaproxy(bin, ports, retries) {
  const frontPort = await freePort();
  const sock = join(work, `haproxy-${frontPort}.sock`);
  const cfg = join(work, `haproxy-${frontPort}.cfg`);
  writeFileSync(cfg, haproxyConfig(frontPort, sock, ports, retries));
  const check = spawnSync(bin, ['-c', '-q', '-f', cfg], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy -c: ${check.stderr}`);
  const child = spawn(bin, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  for (let i = 0; i < 100; i++) {
    try {
      await admin(sock, 'show info');
      break;
    } catch {
      await sleep(50);
    }
  }
  return { child, sock, url: `http://127.0.0.1:${frontPort}`, stop: () => new Promise((r) => (child.exitCode !== null ? r() : (child.once('exit', r), child.kill('SIGTERM')))) };
}

/** One command on HAProxy's stats socket (the runtime API). */
function admin(sock, command) {
  return new Promise((resolve, reject) => {
    let out = '';
    const c = connect(sock, () => c.end(`${command}\n`));
    c.setEncoding('utf8');
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
  });
}

/** `show stat` for the backend's servers: name -> {status, wretr, wredis, ...} (HAProxy's CSV columns). */
async function servers(sock) {
  const csv = (await admin(sock, 'show stat')).trim().split('\n');
  const head = csv[0].replace(/^# /, '').split(',');
  const rows = {};
  for (const line of csv.slice(1)) {
    const f = line.split(',');
    const row = Object.fromEntries(head.map((h, i) => [h, f[i]]));
    if (row.pxname === 'replicas') rows[row.svname] = row;
  }
  return rows;
}

async function waitStatus(sock, name, want, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const s = (await servers(sock))[name]?.status ?? '';
    if (s.startsWith(want)) return;
    await sleep(20);
  }
  throw new Error(`${name} not ${want} after ${timeoutMs} ms`);
}

// Texts as bench/serve.mjs makes them (MS MARCO-like lengths), deterministic.
const VOCAB = 'the of and to in is for that on with as by was from at are this be it an which or have its not has can were their also more one all other used into most may after these such only during where between river stone query light paper green house music north cloud train apple system model data search rank document learning network energy water city history science market health'.split(' ');
let seed = 27;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) / 2 ** 24;
const words = (n) => Array.from({ length: n }, () => VOCAB[Math.floor(rand() * VOCAB.length)]).join(' ');
const query = words(6);
const docs = Array.from({ length: N_DOCS }, () => words(40 + Math.floor(rand() * 31)));
const body = JSON.stringify({ query, texts: docs, raw_scores: true });

/** The library's raw scores for the one request every client sends. */
async function referenceScores() {
  const { CrossEncoder } = await import(join(ROOT, 'dist', 'index.js'));
  const model = await CrossEncoder.load(values.model, { threads: 1 });
  try {
    const hits = await model.rerank(query, docs, { activation: 'identity' });
    const ref = new Float64Array(N_DOCS);
    for (const h of hits) ref[h.index] = h.score;
    return ref;
  } finally {
    await model.close();
  }
}

/**
 * Starts autocannon against `url` (stopped by the caller, bounded by maxSeconds). Every response is
 * timed on a timeline (ms since start, status, latency) and every body compared with `ref`.
 */
function startLoad(url, ref, maxSeconds) {
  const timeline = [];
  const t0 = Date.now();
  let maxDiff = 0;
  let badBodies = 0;
  // autocannon emits 'response' and then calls verifyBody for the same answer, in one tick: the
  // status seen last is this body's. Non-2xx answers are counted once, as non2xx.
  let lastStatus = 0;
  const instance = autocannon({
    url: `${url}/rerank`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    connections: CONNECTIONS,
    duration: maxSeconds,
    timeout: 20,
    setupClient(client) {
      client.on('response', (status, _bytes, latency) => {
        lastStatus = status;
        timeline.push([Date.now() - t0, status, latency]);
      });
    },
    verifyBody(text) {
      if (lastStatus < 200 || lastStatus >= 300) return true;
      try {
        const answer = JSON.parse(text);
        if (!Array.isArray(answer) || answer.length !== N_DOCS) throw new Error('shape');
        const seen = new Set();
        for (const { index, score } of answer) {
          seen.add(index);
          maxDiff = Math.max(maxDiff, Math.abs(score - ref[index]));
        }
        if (seen.size !== N_DOCS || maxDiff > TOLERANCE) throw new Error('scores');
        return true;
      } catch {
        badBodies++;
        return false;
      }
    },
  });
  const done = new Promise((resolve) => instance.on('done', resolve));
  return { instance, timeline, t0, done, stats: () => ({ maxDiff, badBodies }) };
}

/** What a load run measured: counts, failures by kind, latencies, and a window's worst latency. */
function summarize(result, load, window) {
  const { maxDiff, badBodies } = load.stats();
  const completed = load.timeline.length;
  const ok = load.timeline.filter(([, s]) => s >= 200 && s < 300).length;
  const inWindow = window ? load.timeline.filter(([t]) => t >= window[0] && t <= window[1]) : [];
  const byStatus = {};
  for (const [, s] of load.timeline) byStatus[s] = (byStatus[s] ?? 0) + 1;
  return {
    sent: result.requests.sent,
    completed,
    ok,
    failed: result.non2xx + result.errors + badBodies,
    non2xx: result.non2xx,
    socketErrors: result.errors - result.timeouts,
    timeouts: result.timeouts,
    wrongScores: badBodies,
    byStatus,
    maxScoreDiff: maxDiff,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    ...(window ? { maxLatencyInWindowMs: Math.max(0, ...inWindow.map(([, , l]) => l)), responsesInWindow: inWindow.length } : {}),
    seconds: (Date.now() - load.t0) / 1000,
  };
}

const retriesOf = async (sock) => {
  const rows = Object.values(await servers(sock));
  return { retries: rows.reduce((n, r) => n + Number(r.wretr || 0), 0), redispatches: rows.reduce((n, r) => n + Number(r.wredis || 0), 0) };
};

/** SIGTERM each replica in turn under load; the replacement must be UP in HAProxy before the next. */
async function rolling(bin, ports, ref, drainDelay) {
  const fleet = ports.map((p) => startReplica(p, drainDelay));
  const lb = await startHaproxy(bin, ports, 'off');
  for (let i = 0; i < ports.length; i++) await waitStatus(lb.sock, `r${i}`, 'UP');
  const load = startLoad(lb.url, ref, 600);
  await sleep(T.warm * 1000);
  const steps = [];
  const windowStart = Date.now() - load.t0;
  for (let i = 0; i < fleet.length; i++) {
    const t = Date.now();
    fleet[i].child.kill('SIGTERM');
    const exit = await fleet[i].exited;
    const exitedMs = Date.now() - t;
    if (exit.code !== 0) log(`r${i} exited ${exit.code ?? exit.signal}: ${exit.stderr}`);
    fleet[i] = startReplica(ports[i], drainDelay);
    await waitStatus(lb.sock, `r${i}`, 'UP');
    steps.push({ replica: `r${i}`, exitCode: exit.code, drainedAndExitedMs: exitedMs, backUpMs: Date.now() - t });
  }
  const windowEnd = Date.now() - load.t0;
  await sleep(T.settle * 1000);
  load.instance.stop();
  const result = await load.done;
  const out = { drainDelaySeconds: drainDelay, ...summarize(result, load, [windowStart, windowEnd]), restartSeconds: (windowEnd - windowStart) / 1000, steps, haproxy: await retriesOf(lb.sock) };
  await lb.stop();
  await stopAll(fleet);
  return out;
}

/** SIGKILL one replica under load; HAProxy with L7 retries. Then put a replacement back. */
async function crash(bin, ports, ref) {
  const fleet = ports.map((p) => startReplica(p, DRAIN_DELAY));
  const lb = await startHaproxy(bin, ports, 'l7');
  for (let i = 0; i < ports.length; i++) await waitStatus(lb.sock, `r${i}`, 'UP');
  const load = startLoad(lb.url, ref, 600);
  await sleep(T.beforeCrash * 1000);
  const killedAt = Date.now() - load.t0;
  fleet[0].child.kill('SIGKILL');
  await fleet[0].exited;
  await waitStatus(lb.sock, 'r0', 'DOWN');
  const downMs = Date.now() - load.t0 - killedAt;
  await sleep(T.afterCrash * 1000);
  fleet[0] = startReplica(ports[0], DRAIN_DELAY);
  await waitStatus(lb.sock, 'r0', 'UP');
  const backAt = Date.now() - load.t0;
  await sleep(T.settle * 1000);
  load.instance.stop();
  const result = await load.done;
  const s = summarize(result, load, [killedAt, backAt]);
  const okAfterKill = load.timeline.filter(([t, st]) => t > killedAt && st >= 200 && st < 300).length;
  const out = { ...s, markedDownAfterMs: downMs, okWhileDegraded: okAfterKill, haproxy: await retriesOf(lb.sock) };
  await lb.stop();
  await stopAll(fleet);
  return out;
}

/** docs/s through HAProxy with 1..n replicas enabled (the others disabled on the runtime API). */
async function scale(bin, ports, ref) {
  const fleet = ports.map((p) => startReplica(p, DRAIN_DELAY));
  const lb = await startHaproxy(bin, ports, 'connect');
  for (let i = 0; i < ports.length; i++) await waitStatus(lb.sock, `r${i}`, 'UP');
  const rows = [];
  for (let n = 1; n <= ports.length; n++) {
    for (let i = 0; i < ports.length; i++) await admin(lb.sock, `${i < n ? 'enable' : 'disable'} server replicas/r${i}`);
    for (let i = 0; i < n; i++) await waitStatus(lb.sock, `r${i}`, 'UP');
    const load = startLoad(lb.url, ref, T.scale);
    const result = await load.done;
    const s = summarize(result, load);
    rows.push({ replicas: n, docsPerSecond: Math.round((s.ok * N_DOCS) / s.seconds), requestsPerSecond: Math.round(s.ok / s.seconds), failed: s.failed, latencyMs: s.latencyMs });
  }
  await lb.stop();
  await stopAll(fleet);
  return rows;
}

async function stopAll(fleet) {
  for (const r of fleet) r.child.kill('SIGINT');
  for (const r of fleet) r.child.kill('SIGINT'); // the second signal skips --drain-delay: nothing is balanced to them now
  await Promise.all(fleet.map((r) => r.exited));
}

function markdown(report) {
  const r = report.rolling;
  const c = report.crash;
  const lines = [
    '# A fleet of `crossrank serve` replicas behind HAProxy',
    '',
    `Measured ${report.date} on a ${report.machine.cpus}-core machine (${report.machine.cpu}) shared with other work: absolute`,
    'rates are this machine\'s, not the software\'s. Replicas, HAProxy, the load generator and the reference model all share the cores.',
    '',
    `Command: \`${report.command}\``,
    '',
    `Setup: ${report.config.replicas} replicas of \`crossrank serve\` (${report.config.model}, --threads ${report.config.threads}, --drain-delay ${report.config.drainDelaySeconds}, --grace 10),`,
    `${report.machine.haproxy} on 127.0.0.1 checking \`GET /ready\` every ${CHECK.inter} ms (fall ${CHECK.fall}, rise ${CHECK.rise}), round-robin;`,
    `autocannon with ${report.config.connections} connections sending TEI \`POST /rerank\` (1 query x ${report.config.docs} documents, raw_scores).`,
    `Every 200 answer's scores are compared with the library's (\`CrossEncoder.rerank\` in process); largest difference seen: ${Math.max(r.maxScoreDiff, c.maxScoreDiff).toExponential(1)} (tolerance ${TOLERANCE}).`,
    '',
    '## Rolling restart (SIGTERM each replica in turn, replacement UP in HAProxy before the next)',
    '',
    'HAProxy with `retries 0` and no redispatch: every request sent to a replica that refuses or drops it fails at the client, none is replayed.',
    '',
    '| drain delay | requests sent | answered 200 | failed | 5xx from HAProxy | socket errors | wrong scores | max latency during the restart | p99 | restart took |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...[r, ...(report.control ? [report.control] : [])].map((x) => `| ${x.drainDelaySeconds} s${x === report.control ? ' (control)' : ''} | ${x.sent} | ${x.ok} | ${x.failed} | ${x.non2xx} | ${x.socketErrors} | ${x.wrongScores} | ${Math.round(x.maxLatencyInWindowMs)} ms | ${x.latencyMs.p99} ms | ${x.restartSeconds.toFixed(1)} s |`),
    '',
    `Requests sent but not answered (${r.sent - r.completed}) were in flight when the load generator stopped, one per connection at most.`,
    ...(report.control
      ? ['', `The control restarts the same way with \`--drain-delay 0\`: each replica closes its listener at once, while HAProxy still sends to it until its checks fail; with no retries, ${report.control.failed} request(s) failed. A refused request fails within about a millisecond and its client sends the next at once, so this count measures how long HAProxy kept sending to a closed replica (about \`inter\` x \`fall\` per restart) more than how many users would be hit.`]
      : []),
    '',
    'Per replica (drain delay, then exit, then the replacement loads and passes 2 checks):',
    '',
    '| replica | exit code | SIGTERM to exit | SIGTERM to replacement UP |',
    '| --- | ---: | ---: | ---: |',
    ...r.steps.map((s) => `| ${s.replica} | ${s.exitCode} | ${s.drainedAndExitedMs} ms | ${s.backUpMs} ms |`),
    '',
    '## Crash (SIGKILL one replica under load)',
    '',
    'HAProxy with `retry-on conn-failure empty-response response-timeout` and `option redispatch`.',
    '',
    '| requests sent | answered 200 | failed | of which 5xx from HAProxy | socket errors | answered 200 after the kill | HAProxy marked it DOWN after | max latency until replaced | HAProxy retries / redispatches |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${c.sent} | ${c.ok} | ${c.failed} | ${c.non2xx} | ${c.socketErrors} | ${c.okWhileDegraded} | ${c.markedDownAfterMs} ms | ${Math.round(c.maxLatencyInWindowMs)} ms | ${c.haproxy.retries} / ${c.haproxy.redispatches} |`,
    '',
    `## Scale (docs/s through HAProxy, ${T.scale} s each; reported, not judged: ${report.machine.cpus} cores are the limit)`,
    '',
    '| replicas | docs/s | requests/s | failed | p50 | p99 |',
    '| ---: | ---: | ---: | ---: | ---: | ---: |',
    ...report.scale.map((s) => `| ${s.replicas} | ${s.docsPerSecond} | ${s.requestsPerSecond} | ${s.failed} | ${s.latencyMs.p50} ms | ${s.latencyMs.p99} ms |`),
    '',
  ];
  return lines.join('\n');
}

async function main() {
  const hap = ensureHaproxy();
  if (hap.skip) {
    console.log(JSON.stringify({ skipped: hap.skip }));
    log(`skipped: ${hap.skip}`);
    return 77;
  }
  const ref = await referenceScores();
  const ports = await Promise.all(Array.from({ length: REPLICAS }, freePort));
  const started = Date.now();
  log(`${hap.version}; ${REPLICAS} replicas on ${ports.join(', ')}; ${SHORT ? 'short' : 'full'} run`);
  const report = {
    date: new Date().toISOString().slice(0, 10),
    command: `node bench/fleet.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, haproxy: hap.version.replace(/ - https.*/, '') },
    config: { replicas: REPLICAS, threads: THREADS, connections: CONNECTIONS, docs: N_DOCS, drainDelaySeconds: DRAIN_DELAY, model: values.model.replace(`${ROOT}/`, ''), short: SHORT },
  };
  log('rolling restart');
  report.rolling = await rolling(hap.path, ports, ref, DRAIN_DELAY);
  log(JSON.stringify(report.rolling));
  log('crash');
  report.crash = await crash(hap.path, ports, ref);
  log(JSON.stringify(report.crash));
  log('scale');
  report.scale = await scale(hap.path, ports, ref);
  log(JSON.stringify(report.scale));
  if (values.control) {
    log('control: rolling restart with --drain-delay 0');
    report.control = await rolling(hap.path, ports, ref, 0);
    log(JSON.stringify(report.control));
  }
  report.seconds = Math.round((Date.now() - started) / 1000);
  const json = JSON.stringify(report, null, 2);
  if (values.json) writeFileSync(values.json, `${json}\n`);
  if (values.out) writeFileSync(values.out, markdown(report));
  console.log(json);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
