// Repeatable scores in every precision (issue 17, points 1, 2 and 5). Dynamic int8 quantization
// computes activation scales per batch, over every row including padding, so an int8 score depends
// on which pairs share its batch; fp16 sums round differently with the batch's shape. Identical
// calls on an idle model must therefore form identical batches, whatever order the tokenizer
// threads finish in. The int8 and fp16 files are made here from the fixture, as `crossrank
// convert` and the hub's files are made (not committed: they are derived).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { onnxOpTypes } from '../lib/onnx-graph.js';
import { PYTHON, modelDir, parityPairs } from './helpers.js';

const { pairs } = parityPairs();
const query = pairs[0]![0];
const documents = pairs.map(([, d]) => d);
const CALLS = 10;

// quantize_dynamic with QInt8 weights: the recipe of `crossrank convert` and of the hub's
// model_quantized.onnx / model_qint8_*.onnx. fp16 as lib/python/convert.py makes it.
const MAKE_VARIANTS = `
import sys, onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.float16 import convert_float_to_float16
src, out = sys.argv[1], sys.argv[2]
quantize_dynamic(src, out + "/onnx/model_quantized.onnx", weight_type=QuantType.QInt8)
onnx.save(convert_float_to_float16(onnx.load(src), keep_io_types=True), out + "/onnx/model_fp16.onnx")
`;

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'crossrank-determinism-'));
  mkdirSync(join(dir, 'onnx'));
  for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.onnx']) {
    copyFileSync(join(modelDir('bert-tiny'), f), join(dir, f));
  }
  execFileSync(PYTHON, ['-c', MAKE_VARIANTS, join(dir, 'model.onnx'), dir], { stdio: 'pipe', timeout: 120_000 });
}, 180_000);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Distinct score vectors and top-10 lists over CALLS identical calls, one model at a time. */
async function repeatRuns(precision: 'int8' | 'fp16', tokenizerThreads?: number) {
  const model = await CrossEncoder.load(dir, { precision, ...(tokenizerThreads === undefined ? {} : { tokenizerThreads }) });
  try {
    const scores: Float32Array[] = [];
    const lists: string[] = [];
    for (let k = 0; k < CALLS; k++) {
      scores.push(await model.predict(pairs));
      const hits = await model.rerank(query, documents, { topK: 10 });
      lists.push(JSON.stringify(hits.map((h) => [h.index, h.score])));
    }
    const distinctScores = scores.filter((s, i) => scores.findIndex((t) => sameBits(s, t)) === i);
    return { distinctScores, distinctLists: new Set(lists), info: model.info };
  } finally {
    await model.close();
  }
}

describe.each(['int8', 'fp16'] as const)('%s: identical calls give identical results', (precision) => {
  const seen: Float32Array[] = [];

  it.each([undefined, 1, 4])(`${CALLS} predict calls on 305 pairs are bit-identical, and rerank top-10 lists identical (tokenizerThreads %s)`, async (threads) => {
    const { distinctScores, distinctLists } = await repeatRuns(precision, threads);
    expect(distinctScores).toHaveLength(1);
    expect(distinctLists.size).toBe(1);
    seen.push(distinctScores[0]!);
  });

  it('and the same across tokenizer thread counts: batches do not depend on which thread finishes first', () => {
    expect(seen).toHaveLength(3);
    for (const s of seen) expect(sameBits(s, seen[0]!)).toBe(true);
  });
});

describe('batch dependence is reported', () => {
  it('info.batchDependent is true for the dynamic int8 file, with the operators found', async () => {
    const model = await CrossEncoder.load(dir, { precision: 'int8' });
    try {
      expect(model.info.batchDependent).toBe(true);
      expect(model.info.batchDependentReason).toMatch(/DynamicQuantizeLinear x\d+/);
      // What the flag warns of: the same pair scored alone and inside the full call.
      const together = await model.predict(pairs);
      let moved = 0;
      for (let i = 0; i < pairs.length; i += 15) {
        const [alone] = await model.predict([pairs[i]!]);
        moved = Math.max(moved, Math.abs(alone! - together[i]!));
      }
      expect(moved).toBeGreaterThan(0);
    } finally {
      await model.close();
    }
  });

  it.each(['fp32', 'fp16'] as const)('info.batchDependent is false for the %s file', async (precision) => {
    const model = await CrossEncoder.load(dir, { precision });
    try {
      expect(model.info.batchDependent).toBe(false);
      expect(model.info.batchDependentReason).toMatch(/no dynamic quantization/);
    } finally {
      await model.close();
    }
  });

  it('the graph walk counts the same operators as the onnx package', async () => {
    // bert-tiny's graph as the Python onnx package reads it.
    const expected = JSON.parse(
      execFileSync(
        PYTHON,
        [
          '-c',
          'import collections, json, sys, onnx; g = onnx.load(sys.argv[1], load_external_data=False).graph; ' +
            'print(json.dumps(collections.Counter(n.op_type if n.domain in ("", "ai.onnx") else n.domain + "." + n.op_type for n in g.node)))',
          join(dir, 'onnx', 'model_quantized.onnx'),
        ],
        { encoding: 'utf8', timeout: 60_000 },
      ),
    ) as Record<string, number>;
    const ops = await onnxOpTypes(join(dir, 'onnx', 'model_quantized.onnx'));
    expect(Object.fromEntries(ops)).toEqual(expected);
  });

  it('a file that is not a ModelProto gives batchDependent false with the reason, not an error', async () => {
    const { batchDependence } = await import('../lib/onnx-graph.js');
    const bad = join(dir, 'bad.onnx');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(bad, Buffer.from([0x3a, 0xff, 0xff, 0xff, 0x0f, 0x01])); // field 7, length 4 GB, 1 byte
    const result = await batchDependence(bad);
    expect(result.batchDependent).toBe(false);
    expect(result.reason).toMatch(/^unknown: the graph could not be read/);
  });
});
