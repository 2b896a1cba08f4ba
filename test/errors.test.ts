// Misuse and broken inputs give coded CrossrankErrors (rejections), never a crash.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync, readFileSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder, CrossrankError } from '../lib/index.js';
import { maxAbsDiff, modelDir, scratchCopy } from './helpers.js';

let bert: CrossEncoder;
beforeAll(async () => {
  bert = await CrossEncoder.load(modelDir('bert-tiny'));
});
afterAll(async () => {
  await bert.close();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(CrossrankError);
    return (error as CrossrankError).code;
  }
  throw new Error('expected a rejection');
}

describe('model folders', () => {
  it('a missing folder is MODEL_NOT_FOUND', async () => {
    expect(await codeOf(CrossEncoder.load('/nonexistent/crossrank-model'))).toBe('MODEL_NOT_FOUND');
  });

  it('a folder without tokenizer.json is MODEL_NOT_FOUND, naming the file', async () => {
    const dir = scratchCopy('bert-tiny');
    rmSync(join(dir, 'tokenizer.json'));
    await expect(CrossEncoder.load(dir)).rejects.toThrow(/tokenizer\.json/);
    expect(await codeOf(CrossEncoder.load(dir))).toBe('MODEL_NOT_FOUND');
  });

  it('a folder without an ONNX file is MODEL_NOT_FOUND, naming what it looked for', async () => {
    const dir = scratchCopy('bert-tiny');
    rmSync(join(dir, 'model.onnx'));
    await expect(CrossEncoder.load(dir)).rejects.toThrow(/model\.onnx and onnx\/model\.onnx/);
  });

  it('a non-ONNX model file is INVALID_MODEL', async () => {
    const dir = scratchCopy('bert-tiny');
    writeFileSync(join(dir, 'model.onnx'), 'this is not a protobuf at all');
    expect(await codeOf(CrossEncoder.load(dir))).toBe('INVALID_MODEL');
  });

  it('a truncated ONNX file is INVALID_MODEL', async () => {
    const dir = scratchCopy('bert-tiny');
    const path = join(dir, 'model.onnx');
    truncateSync(path, Math.floor(statSync(path).size / 2));
    expect(await codeOf(CrossEncoder.load(dir))).toBe('INVALID_MODEL');
  });

  it('a corrupt tokenizer.json is TOKENIZER_ERROR', async () => {
    const dir = scratchCopy('bert-tiny');
    writeFileSync(join(dir, 'tokenizer.json'), '{"version": "1.0", "model": 42}');
    expect(await codeOf(CrossEncoder.load(dir))).toBe('TOKENIZER_ERROR');
  });

  it('a corrupt config.json is INVALID_MODEL', async () => {
    const dir = scratchCopy('bert-tiny');
    writeFileSync(join(dir, 'config.json'), '{ not json');
    expect(await codeOf(CrossEncoder.load(dir))).toBe('INVALID_MODEL');
  });

  it('a tokenizer larger than the model vocabulary is INVALID_MODEL', async () => {
    const dir = scratchCopy('roberta-tiny');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    config.vocab_size = 100;
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    await expect(CrossEncoder.load(dir)).rejects.toThrow(/does not belong to this model/);
  });

  it('an activation crossrank cannot reproduce is INVALID_MODEL unless overridden', async () => {
    const dir = scratchCopy('roberta-tiny');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    config.sentence_transformers = { activation_fn: 'torch.nn.modules.activation.GELU' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    expect(await codeOf(CrossEncoder.load(dir))).toBe('INVALID_MODEL');
    const m = await CrossEncoder.load(dir, { activation: 'sigmoid' });
    expect(m.info.activation).toBe('sigmoid');
    await m.close();
  });

  it('an activation outside torch is not trusted and falls back to the default, as in sentence-transformers', async () => {
    const dir = scratchCopy('roberta-tiny');
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    config.sentence_transformers = { activation_fn: 'my.module.FancyActivation' };
    writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
    const m = await CrossEncoder.load(dir);
    expect(m.info.activation).toBe('sigmoid');
    await m.close();
  });

  it('modelFile picks a named ONNX file and reports a missing one', async () => {
    const m = await CrossEncoder.load(modelDir('xlmr-tiny-3'), { modelFile: 'onnx/model.onnx' });
    expect(m.info.modelPath).toMatch(/onnx\/model\.onnx$/);
    await m.close();
    expect(await codeOf(CrossEncoder.load(modelDir('bert-tiny'), { modelFile: 'onnx/model_fp16.onnx' }))).toBe(
      'MODEL_NOT_FOUND',
    );
  });

  it("device 'cuda' without a CUDA provider is CUDA_UNAVAILABLE", async () => {
    expect(await codeOf(CrossEncoder.load(modelDir('bert-tiny'), { device: 'cuda' }))).toBe('CUDA_UNAVAILABLE');
  });
});

describe('arguments', () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['load dir not a string', () => CrossEncoder.load(42 as never), /dir must be a non-empty string, received the number 42/],
    ['unknown load option', () => CrossEncoder.load(modelDir('bert-tiny'), { thread: 2 } as never), /unknown option "thread"/],
    ['bad device', () => CrossEncoder.load(modelDir('bert-tiny'), { device: 'tpu' as never }), /options\.device must be one of/],
    ['threads not an integer', () => CrossEncoder.load(modelDir('bert-tiny'), { threads: 1.5 }), /options\.threads must be an integer/],
    ['concurrentRuns zero', () => CrossEncoder.load(modelDir('bert-tiny'), { concurrentRuns: 0 }), /options\.concurrentRuns must be an integer from 1 to 64/],
    ['concurrentRuns not a number', () => CrossEncoder.load(modelDir('bert-tiny'), { concurrentRuns: '2' as never }), /options\.concurrentRuns must be an integer/],
    ['pairs not an array', () => bert.predict('q' as never), /pairs must be an array, received the string "q"/],
    ['pair not a tuple', () => bert.predict([['only one']] as never), /pairs\[0\] must be a \[string, string\] pair/],
    ['pair member not a string', () => bert.predict([['q', 7]] as never), /pairs\[0\]\[1\] must be a string, received the number 7/],
    ['batchSize zero', () => bert.predict([['q', 'd']], { batchSize: 0 }), /options\.batchSize must be an integer from 1/],
    ['unknown activation', () => bert.predict([['q', 'd']], { activation: 'relu' as never }), /options\.activation must be one of/],
    ['signal not a signal', () => bert.predict([['q', 'd']], { signal: {} as never }), /options\.signal must be an AbortSignal/],
    ['query not a string', () => bert.rerank(null as never, ['d']), /query must be a string, received null/],
    ['documents not an array', () => bert.rerank('q', 'd' as never), /documents must be an array/],
    ['non-string document', () => bert.rerank('q', ['d', 3 as never]), /documents\[1\] must be a string, received the number 3/],
    ['negative topK', () => bert.rerank('q', ['d'], { topK: -1 }), /options\.topK must be an integer/],
    ['options not an object', () => bert.rerank('q', ['d'], 5 as never), /options must be an object/],
  ];
  it.each(cases)('%s is INVALID_ARGUMENT with a message naming it', async (_name, call, message) => {
    const error = await call().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CrossrankError);
    expect((error as CrossrankError).code).toBe('INVALID_ARGUMENT');
    expect((error as CrossrankError).message).toMatch(message);
  });
});

describe('lifecycle', () => {
  it('the process exits cleanly with models closed, unclosed and mid-call (regression: teardown abort)', () => {
    const script = `
      const { CrossEncoder } = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.cjs'))});
      (async () => {
        const dir = ${JSON.stringify(modelDir('bert-tiny'))};
        const pairs = Array.from({ length: 400 }, (_, i) => ['q' + i, 'd']);
        for (let i = 0; i < 3; i++) {
          const m = await CrossEncoder.load(dir);
          await m.predict(pairs);
          if (i !== 1) await m.close();
        }
        const busy = await CrossEncoder.load(dir);
        busy.predict(pairs).catch(() => {});
        console.log('done');
        process.exit(0);
      })();`;
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('done');
    expect(run.status).toBe(0);
  });

  it('use after close is CLOSED for every method; close twice is harmless', async () => {
    const m = await CrossEncoder.load(modelDir('bert-tiny'));
    await m.close();
    await m.close();
    expect(m.closed).toBe(true);
    expect(await codeOf(m.predict([['q', 'd']]))).toBe('CLOSED');
    expect(await codeOf(m.rerank('q', ['d']))).toBe('CLOSED');
    expect(await codeOf(m.tokenize([['q', 'd']]))).toBe('CLOSED');
  });

  it('close while calls are queued and running: each finishes with correct scores or rejects CLOSED', async () => {
    const m = await CrossEncoder.load(modelDir('bert-tiny'));
    const pairs = Array.from({ length: 500 }, (_, i) => [`query ${i}`, `document number ${i}`] as [string, string]);
    const expected = await bert.predict(pairs);
    const first = await m.predict(pairs);
    expect(maxAbsDiff(first, expected)).toBeLessThan(1e-6);
    const settled = Promise.allSettled(Array.from({ length: 6 }, () => m.predict(pairs)));
    await new Promise((r) => setTimeout(r, 2));
    await m.close();
    const results = await settled;
    let closed = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') {
        expect(maxAbsDiff(r.value, expected)).toBeLessThan(1e-6);
      } else {
        expect(r.reason).toMatchObject({ code: 'CLOSED' });
        closed++;
      }
    }
    expect(closed).toBeGreaterThan(0); // 6 x 500 pairs cannot all have run within 2 ms
  });
});
