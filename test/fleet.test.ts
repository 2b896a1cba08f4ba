// The fleet, short form: bench/fleet.mjs --short runs HAProxy on 127.0.0.1 in front of 3
// `crossrank serve` replicas (dist/cli.js) under autocannon load, then judges what the issue asks:
// a rolling restart loses no request and every answer has the library's scores; a SIGKILL loses at
// most what was in flight on the killed replica while the rest keep serving; the balancer adds no
// errors at 1, 2 and 3 replicas. HAProxy is installed with apt-get when missing (as root); where it
// cannot be had the test is skipped with the reason. The full run (longer phases, a control
// without --drain-delay) writes bench/results/fleet.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { FIXTURES } from './helpers.js';

const ROOT = join(FIXTURES, '..', '..');
const CONNECTIONS = 16;

describe('a fleet behind HAProxy (bench/fleet.mjs --short)', () => {
  it('rolling restart: 0 failed, scores equal the library; crash: bounded loss, the rest serve; scale: no balancer errors', async (ctx) => {
    expect(existsSync(join(ROOT, 'dist', 'cli.js')), 'dist/cli.js: run `npx tsup` first').toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'crossrank-fleet-test-'));
    const out = join(dir, 'fleet.json');
    try {
      const child = spawn(process.execPath, [join(ROOT, 'bench', 'fleet.mjs'), '--short', '--connections', String(CONNECTIONS), '--json', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGTERM'), 280_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      if (code === 77) {
        const reason = (JSON.parse(stdout) as { skipped: string }).skipped;
        console.warn(`fleet test skipped: ${reason}`);
        ctx.skip(reason);
        return;
      }
      expect(code, stderr.slice(-3000)).toBe(0);
      const report = JSON.parse(readFileSync(out, 'utf8'));

      const r = report.rolling;
      expect(r.steps.map((s: { exitCode: number }) => s.exitCode)).toEqual([0, 0, 0]); // every replica drained within --grace
      expect({ failed: r.failed, non2xx: r.non2xx, socketErrors: r.socketErrors, timeouts: r.timeouts, wrongScores: r.wrongScores }).toEqual({ failed: 0, non2xx: 0, socketErrors: 0, timeouts: 0, wrongScores: 0 });
      expect(r.ok).toBeGreaterThan(50);
      expect(r.responsesInWindow).toBeGreaterThan(20); // the load really ran through the restart
      expect(r.maxScoreDiff).toBeLessThanOrEqual(1e-5);
      // What was sent but not answered is what was in flight when the load stopped, one per connection at most.
      expect(r.sent - r.completed).toBeLessThanOrEqual(CONNECTIONS);

      const c = report.crash;
      expect(c.wrongScores).toBe(0);
      expect(c.failed).toBeLessThanOrEqual(CONNECTIONS); // a SIGKILL can only lose what was in flight there
      expect(c.okWhileDegraded).toBeGreaterThan(20);
      expect(c.markedDownAfterMs).toBeLessThan(5000);

      expect(report.scale.map((s: { replicas: number }) => s.replicas)).toEqual([1, 2, 3]);
      for (const s of report.scale) {
        expect(s.failed, `${s.replicas} replicas`).toBe(0);
        expect(s.docsPerSecond).toBeGreaterThan(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000); // about 60 s alone on 2 cores; room for a busy CI machine
});
