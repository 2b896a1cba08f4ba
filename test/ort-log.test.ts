// ONNX Runtime's own log lines are routed through crossrank (native/core/inference_session.cpp
// log_sink): nothing by default, its errors reject as coded errors; `logLevel` prints plain lines.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { scratchCopy } from './helpers.js';

const root = join(__dirname, '..');

// bert-tiny whose config.json claims 2,048 positions (its graph has 512): a long pair then fails
// inside ONNX Runtime (Gather index out of range), which logs an error line of its own.
function lyingFolder(): string {
  const dir = scratchCopy('bert-tiny');
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: 2048 }));
  return dir;
}

function runChild(dir: string, logLevel: string | undefined) {
  const script = `
const { CrossEncoder } = require(${JSON.stringify(join(root, 'dist', 'index.cjs'))});
(async () => {
  const model = await CrossEncoder.load(${JSON.stringify(dir)}, { maxLength: 1024${logLevel ? `, logLevel: ${JSON.stringify(logLevel)}` : ''} });
  try {
    await model.predict([['query', 'word '.repeat(900)]]);
    console.log('RESULT ok');
  } catch (error) {
    console.log('RESULT ' + error.code);
  }
  await model.close();
})();`;
  return spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
}

describe('ONNX Runtime log lines', () => {
  it('by default: the failure is a coded error and ONNX Runtime prints nothing', () => {
    const run = runChild(lyingFolder(), undefined);
    expect(run.stdout).toMatch(/RESULT INFERENCE_FAILED/);
    expect(run.stderr).not.toMatch(/onnxruntime|\x1b\[/i);
  });

  it("logLevel 'error': the same failure, and ONNX Runtime's line printed plainly through crossrank", () => {
    const run = runChild(lyingFolder(), 'error');
    expect(run.stdout).toMatch(/RESULT INFERENCE_FAILED/);
    expect(run.stderr).toMatch(/^crossrank: onnxruntime error: .+/m);
    expect(run.stderr).not.toMatch(/\x1b\[/);
  });

  it('logLevel is validated', async () => {
    await expect(CrossEncoder.load(scratchCopy('bert-tiny'), { logLevel: 'loud' as never })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });
});
