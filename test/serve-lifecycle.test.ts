// crossrank serve behind a load balancer: readiness (/health, /ready) vs liveness (/live), the
// drain that leaves rotation before it stops (503 first, serve through --drain-delay with
// `Connection: close`, then close and finish what was accepted), and the placeholder that holds
// the port while models load. The fleet itself (HAProxy, 3 replicas) is test/fleet.test.ts.
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, type IncomingHttpHeaders, type Server, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/cross-encoder.js';
import { createServer, parseServeArgs } from '../lib/serve/index.js';
import { FIXTURES, modelDir } from './helpers.js';

const ROOT = join(FIXTURES, '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request on a fresh keep-alive connection (node:http, which shows the `connection` header
 * that fetch hides: a keep-alive client asks to keep it, so `close` is the server's choice); -1 when refused.
 */
function call(url: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const agent = new Agent({ keepAlive: true });
  return new Promise<Answer>((resolve) => {
    const req = httpRequest(url + path, { method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json', ...headers }, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ status: -1, headers: {}, body: e.code ?? e.message }));
    req.end(body === undefined ? undefined : JSON.stringify(body));
  }).finally(() => agent.destroy());
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const DOCS = Array.from({ length: 20 }, (_, i) => `document ${i} about rivers and stones`);

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** Starts `crossrank serve` and resolves with its address once the startup line is logged. */
function serveCli(args: string[], env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; ready: Promise<string>; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const ready = new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('crossrank serve ready')) resolve(JSON.parse(line).address);
    });
    child.on('exit', (code) => reject(new Error(`exited early (${code}): ${lines.join('\n')}\n${stderr}`)));
  });
  ready.catch(() => undefined);
  return { child, ready, lines, exited };
}

let bert: CrossEncoder;
beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'), { threads: 1 });
});
afterAll(async () => {
  await bert?.close();
});

describe('readiness and liveness', () => {
  it('/health, /ready and /live answer 200 while serving, without the API key', async () => {
    const s = await createServer({ models: [{ name: 'bert', model: bert }], apiKey: 'secret', fastify: { logger: false } });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      for (const path of ['/health', '/ready', '/live']) expect((await call(url, path)).status, path).toBe(200);
      expect((await call(url, '/rerank', { query: 'q', texts: DOCS })).status).toBe(401);
      expect(s.phase).toBe('serving');
    } finally {
      await s.drain(1000);
    }
  });
});

describe('drain(graceMs, {delayMs})', () => {
  it('readiness 503 at once, serving with Connection: close through the delay, then the listener closes; accepted work finishes', async () => {
    const s = await createServer({ models: [{ name: 'bert', model: bert }], maxClientBatchSize: 5000, fastify: { logger: false } });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const before = await call(url, '/rerank', { query: 'q', texts: DOCS });
    expect(before.status).toBe(200);
    expect(before.headers.connection).not.toBe('close');

    const started = Date.now();
    const drained = s.drain(10_000, { delayMs: 1500 });
    expect(s.phase).toBe('draining');
    const [health, ready, live] = await Promise.all([call(url, '/health'), call(url, '/ready'), call(url, '/live')]);
    expect([health.status, ready.status, live.status]).toEqual([503, 503, 200]);
    expect(JSON.parse(health.body)).toMatchObject({ error_type: 'Unhealthy' });

    // Within the delay a balancer that has not yet seen the 503 still gets real answers.
    const during = await call(url, '/rerank', { query: 'q', texts: DOCS });
    expect(during.status).toBe(200);
    expect(during.headers.connection).toBe('close');
    const expected = await bert.rerank('q', DOCS, { activation: 'identity' });
    const scores = JSON.parse(during.body) as Array<{ index: number; score: number }>;
    for (const hit of expected) expect(scores.find((x) => x.index === hit.index)!.score).toBeCloseTo(1 / (1 + Math.exp(-hit.score)), 6);

    // A big request accepted just before the listener closes still gets its answer.
    const big = Array.from({ length: 3000 }, (_, i) => `passage ${i} with several words in it, ${i % 7}`);
    await sleep(Math.max(0, 1500 - (Date.now() - started) - 150));
    const late = call(url, '/rerank', { query: 'q', texts: big }, {});
    expect(await drained).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1450);
    expect(s.phase).toBe('closing');
    const lateAnswer = await late;
    expect(lateAnswer.status).toBe(200);
    expect(JSON.parse(lateAnswer.body)).toHaveLength(3000);
    expect((await call(url, '/live')).status).toBe(-1); // listener closed: refused
  }, 30_000);

  it('a second call joins the first; an aborted signal ends the delay early', async () => {
    const s = await createServer({ models: [{ name: 'bert', model: bert }], fastify: { logger: false } });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const hurry = new AbortController();
    const started = Date.now();
    const first = s.drain(5000, { delayMs: 60_000, signal: hurry.signal });
    expect(s.drain(1)).toBe(first);
    await sleep(200);
    expect((await call(url, '/ready')).status).toBe(503);
    hurry.abort();
    expect(await first).toBe(true);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('crossrank serve: --drain-delay and the loading placeholder', () => {
  it('parses --drain-delay in seconds (default 5) and CROSSRANK_DRAIN_DELAY', () => {
    const d = parseServeArgs(['--model', 'x']);
    const e = parseServeArgs(['--model', 'x'], { CROSSRANK_DRAIN_DELAY: '0.5' });
    const f = parseServeArgs(['--model', 'x', '--drain-delay', '0']);
    if (d === 'help' || e === 'help' || f === 'help') throw new Error('help');
    expect([d.drainDelayMs, e.drainDelayMs, f.drainDelayMs]).toEqual([5000, 500, 0]);
    expect(() => parseServeArgs(['--model', 'x', '--drain-delay', '-1'])).toThrow(/--drain-delay/);
  });

  it('SIGTERM: /ready 503 at once, answers with Connection: close through --drain-delay, then exit 0', async () => {
    const s = serveCli(['--model', modelDir('bert-tiny'), '--port', '0', '--threads', '1', '--drain-delay', '1.5', '--grace', '10']);
    const url = await s.ready;
    expect((await call(url, '/ready')).status).toBe(200);
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    let ready = 200;
    for (let i = 0; i < 50 && ready === 200; i++) {
      ready = (await call(url, '/ready')).status;
      if (ready === 200) await sleep(10);
    }
    expect(ready).toBe(503);
    const during = await call(url, '/rerank', { query: 'q', texts: DOCS });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(during.status).toBe(200);
    expect(during.headers.connection).toBe('close');
    expect(await s.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    const logs = s.lines.map((l) => JSON.parse(l));
    expect(logs.find((l) => l.msg === 'crossrank serve ready').limits).toMatchObject({ drainDelayMs: 1500, graceMs: 10_000 });
  }, 30_000);

  it('a second SIGTERM ends a long --drain-delay', async () => {
    const s = serveCli(['--model', modelDir('bert-tiny'), '--port', '0', '--threads', '1', '--drain-delay', '60']);
    await s.ready;
    const t0 = Date.now();
    s.child.kill('SIGTERM');
    await sleep(300);
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(s.lines.join('\n')).toMatch(/second signal/);
  }, 30_000);

  it('while models load: /live 200, /health, /ready and the APIs 503 with Retry-After', async () => {
    // A hub that takes its time answering: the load stalls in the metadata request.
    const seen: string[] = [];
    const slowHub: Server = createHttpServer((req, res) => {
      seen.push(req.url ?? '');
      setTimeout(() => {
        res.writeHead(404, { 'content-type': 'application/json', 'x-error-code': 'RepoNotFound' });
        res.end(JSON.stringify({ error: 'Repository not found' }));
      }, 2500);
    });
    await new Promise<void>((r) => slowHub.listen(0, '127.0.0.1', r));
    const hubUrl = `http://127.0.0.1:${(slowHub.address() as AddressInfo).port}`;
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const s = serveCli(['--model', 'org/slow-model', '--port', String(port)], { ...process.env, HF_ENDPOINT: hubUrl, HF_TOKEN: 'hf_test', HF_HUB_CACHE: join(ROOT, 'build', 'no-such-cache') });
    try {
      let live = -1;
      for (let i = 0; i < 100 && live !== 200; i++) {
        live = (await call(url, '/live')).status;
        if (live !== 200) await sleep(20);
      }
      expect(live).toBe(200);
      const [health, ready, rerank] = await Promise.all([call(url, '/health'), call(url, '/ready'), call(url, '/rerank', { query: 'q', texts: ['a'] })]);
      expect([health.status, ready.status, rerank.status]).toEqual([503, 503, 503]);
      expect(rerank.headers['retry-after']).toBe('1');
      expect(JSON.parse(rerank.body)).toMatchObject({ error_type: 'Unhealthy' });
      // The load fails (repo not found): the process exits non-zero and frees the port.
      expect(await s.exited).toBe(1);
      expect(seen.length).toBeGreaterThan(0);
      expect((await call(url, '/live')).status).toBe(-1);
    } finally {
      s.child.kill('SIGKILL');
      await new Promise((r) => slowHub.close(r));
    }
  }, 30_000);
});
