// Misuse and broken inputs give coded CrossrankErrors (rejections), never a crash.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, readFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder, CrossrankError } from '../lib/index.js';
import { native } from '../lib/native.js';
import { INT_OPTIONS, bindOptionTable, nativeOptionTable } from '../lib/options.js';
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

/** Replaces a file of a scratch model folder with a FIFO (nobody ever writes to it). */
function fifoIn(dir: string, file: string): void {
  rmSync(join(dir, file), { force: true });
  const made = spawnSync('mkfifo', [join(dir, file)]);
  expect(made.status).toBe(0);
}

describe('model files are read bounded: regular files only, off the JS thread', () => {
  it.each(['tokenizer.json', 'model.onnx', 'config.json', 'tokenizer_config.json', 'config_sentence_transformers.json'])(
    'a FIFO as %s is INVALID_MODEL at once (before: load() never settled, or blocked the JS thread)',
    async (file) => {
      const dir = scratchCopy('bert-tiny');
      fifoIn(dir, file);
      const started = Date.now();
      const error = await CrossEncoder.load(dir).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(CrossrankError);
      expect((error as CrossrankError).code).toBe('INVALID_MODEL');
      expect((error as CrossrankError).message).toMatch(/not a regular file/);
      expect(Date.now() - started).toBeLessThan(5000);
    },
    10_000,
  );

  it.each(['config.json', 'tokenizer.json', 'tokenizer_config.json'])('%s linked to /dev/zero is INVALID_MODEL (no endless read)', async (file) => {
    const dir = scratchCopy('bert-tiny');
    rmSync(join(dir, file));
    symlinkSync('/dev/zero', join(dir, file));
    await expect(CrossEncoder.load(dir)).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/not a regular file/) });
  }, 10_000);

  it('a folder named config.json is INVALID_MODEL', async () => {
    const dir = scratchCopy('bert-tiny');
    rmSync(join(dir, 'config.json'));
    spawnSync('mkdir', [join(dir, 'config.json')]);
    await expect(CrossEncoder.load(dir)).rejects.toMatchObject({ code: 'INVALID_MODEL' });
  });

  it('a config.json beyond the 16 MiB bound is INVALID_MODEL, read no further', async () => {
    const dir = scratchCopy('bert-tiny');
    truncateSync(join(dir, 'config.json'), 16 * 2 ** 20 + 1); // sparse: costs nothing on disk
    await expect(CrossEncoder.load(dir)).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/more than the 16777216/) });
  });

  it('a tokenizer.json beyond the 256 MiB bound is INVALID_MODEL', async () => {
    const dir = scratchCopy('bert-tiny');
    truncateSync(join(dir, 'tokenizer.json'), 256 * 2 ** 20 + 1);
    await expect(CrossEncoder.load(dir)).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/more than the 268435456/) });
  });
});

describe('activation names from config.json are looked up without a prototype', () => {
  const names = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'];
  const places: [string, (dir: string, name: string) => void][] = [
    [
      'config.json sentence_transformers.activation_fn',
      (dir, name) => {
        const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        config.sentence_transformers = { activation_fn: `torch.nn.modules.activation.${name}` };
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      },
    ],
    [
      'config.json sbert_ce_default_activation_function',
      (dir, name) => {
        const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
        config.sbert_ce_default_activation_function = `torch.nn.modules.activation.${name}`;
        writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
      },
    ],
    [
      // sentence-transformers reads this file only in a folder it saved (with modules.json).
      'config_sentence_transformers.json activation_fn',
      (dir, name) => {
        writeFileSync(join(dir, 'modules.json'), '[]');
        writeFileSync(join(dir, 'config_sentence_transformers.json'), JSON.stringify({ activation_fn: `torch.nn.${name}` }));
      },
    ],
  ];
  it.each(places)('an Object.prototype key in %s is INVALID_MODEL at load; the activation option overrides it', async (_place, write) => {
    for (const name of names) {
      const dir = scratchCopy('bert-tiny');
      write(dir, name);
      await expect(CrossEncoder.load(dir), name).rejects.toMatchObject({ code: 'INVALID_MODEL', message: expect.stringMatching(/does not implement/) });
      const m = await CrossEncoder.load(dir, { activation: 'identity' });
      expect(m.info.activation).toBe('identity');
      expect((await m.predict([['q', 'd']])).length).toBe(1);
      await m.close();
    }
  });
});

describe('one option table for TypeScript and the addon', () => {
  const raw = () => bindOptionTable(native());
  const loadBase = { modelPath: join(modelDir('bert-tiny'), 'model.onnx'), tokenizerPath: join(modelDir('bert-tiny'), 'tokenizer.json') };

  it('the addon holds exactly the table of lib/options.ts and refuses just outside each native range, in integers', async () => {
    const table = nativeOptionTable();
    const predictOptions = new Set(['batchSize', 'maxBatchTokens']);
    const model = await raw().NativeModel.load({ ...loadBase } as never);
    for (const [name, [min, max]] of Object.entries(table)) {
      for (const value of [min - 1, max + 1, min + 0.5]) {
        const call = predictOptions.has(name)
          ? model.predict(['q'], ['d'], { batchSize: 8, maxBatchTokens: 2048, activation: 'sigmoid', [name]: value })
          : raw().NativeModel.load({ ...loadBase, [name]: value } as never);
        const error = await call.then(
          () => undefined,
          (e: unknown) => e as Error & { code: string },
        );
        expect(error, `${name} = ${value}`).toBeDefined();
        expect(error!.code).toBe('INVALID_ARGUMENT');
        expect(error!.message).toBe(`${name} must be an integer from ${min} to ${max}, received ${value}`);
        expect(error!.message).not.toMatch(/\.0000/);
      }
    }
    await model.close();
  });

  it('every public integer option takes its whole range in TypeScript and in the addon', async () => {
    // The report's cases: maxBatchTokens 2**31 - 1 and maxQueuedPairs 2**53 - 1 passed TypeScript,
    // then the addon refused them ("out of range [1.000000, 1000000000.000000]").
    const m = await CrossEncoder.load(modelDir('bert-tiny'), { maxQueuedPairs: INT_OPTIONS.maxQueuedPairs.max });
    expect(await m.predict([['q', 'd']], { maxBatchTokens: INT_OPTIONS.maxBatchTokens.max, batchSize: INT_OPTIONS.batchSize.max })).toHaveLength(1);
    expect(await m.rerank('q', ['d'], { topK: INT_OPTIONS.topK.max })).toHaveLength(1);
    await m.close();
    const low = await CrossEncoder.load(modelDir('bert-tiny'), { maxQueuedPairs: 1, threads: 0, tokenizerThreads: 0, concurrentRuns: 1, deviceId: 0 });
    expect(await low.predict([['q', 'd']], { maxBatchTokens: 1, batchSize: 1 })).toHaveLength(1);
    await low.close();
    for (const [option, value] of [
      ['maxBatchTokens', INT_OPTIONS.maxBatchTokens.max + 1],
      ['batchSize', INT_OPTIONS.batchSize.max + 1],
    ] as const) {
      await expect(bert.predict([['q', 'd']], { [option]: value })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: `options.${option} must be an integer from 1 to ${INT_OPTIONS[option].max}, received the number ${value}`,
      });
    }
    await expect(CrossEncoder.load(modelDir('bert-tiny'), { maxQueuedPairs: 2 ** 53 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('maxLength and the special tokens of a pair', () => {
  // bert-tiny: [CLS] q [SEP] d [SEP] (3 special tokens); roberta-tiny: <s> q </s></s> d </s> (4).
  it.each([
    ['bert-tiny', 3],
    ['roberta-tiny', 4],
  ] as const)('%s: a maxLength that leaves no room for text is refused at load; the first that does scores', async (name, special) => {
    for (let maxLength = 1; maxLength <= special; maxLength++) {
      await expect(CrossEncoder.load(modelDir(name), { maxLength }), `maxLength ${maxLength}`).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(new RegExp(`a pair takes ${special} special tokens.*at least ${special + 1}`)),
      });
    }
    const m = await CrossEncoder.load(modelDir(name), { maxLength: special + 1 });
    const scores = await m.predict([['a longer query than one token', 'and a document of several words']]);
    expect(Number.isFinite(scores[0])).toBe(true);
    expect((await m.tokenize([['a longer query', 'a document']])).ids[0]).toHaveLength(special + 1);
    await m.close();
  });
});

describe('modelFile stays inside the model folder', () => {
  it.each(['../other-model/model.onnx', '../roberta-tiny/model.onnx', '..', '/etc/passwd', 'onnx/../../model.onnx'])('%s is INVALID_ARGUMENT', async (modelFile) => {
    await expect(CrossEncoder.load(modelDir('bert-tiny'), { modelFile })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/must name a file inside the model folder/),
    });
  });

  it('an absolute path outside the folder is INVALID_ARGUMENT even when the file is a real model', async () => {
    await expect(CrossEncoder.load(modelDir('xlmr-tiny-3'), { modelFile: join(modelDir('bert-tiny'), 'model.onnx') })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
  });

  it('an absolute path inside the folder, a path that leaves and re-enters it, and a link inside the folder to a file elsewhere, load', async () => {
    const a = await CrossEncoder.load(modelDir('bert-tiny'), { modelFile: join(modelDir('bert-tiny'), 'model.onnx') });
    await a.close();
    const back = await CrossEncoder.load(modelDir('bert-tiny'), { modelFile: '../bert-tiny/model.onnx' });
    expect(back.info.modelPath).toBe(join(modelDir('bert-tiny'), 'model.onnx'));
    await back.close();
    const dir = scratchCopy('bert-tiny');
    const elsewhere = mkdtempSync(join(tmpdir(), 'crossrank-blob-'));
    writeFileSync(join(elsewhere, 'blob'), readFileSync(join(dir, 'model.onnx')));
    symlinkSync(join(elsewhere, 'blob'), join(dir, 'linked.onnx'));
    const b = await CrossEncoder.load(dir, { modelFile: 'linked.onnx' });
    expect(b.info.modelPath).toBe(join(dir, 'linked.onnx'));
    await b.close();
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
