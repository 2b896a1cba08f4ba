// LLM rerankers (issue 23). First: every model crossrank cannot score as sentence-transformers 6.2
// does is refused, by CrossEncoder.load (UNSUPPORTED_MODEL) and by `crossrank convert` (exit 4),
// before anything is run.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { CrossEncoder } from '../lib/index.js';
import { DECODER_FAMILIES, FAMILY_RULES } from '../lib/model/families.js';
import { PYTHON, modelDir } from './helpers.js';

const root = join(__dirname, '..');

/** bert-tiny's files under a config.json that claims another architecture. */
function folderWith(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'crossrank-llm-refuse-'));
  cpSync(modelDir('bert-tiny'), dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

// Each is scored wrong if taken as a one-label cross-encoder (issue 23 measured it for the first two).
const REFUSED: [string, Record<string, unknown>][] = [
  ['a causal LM of an unknown family (Mistral)', { model_type: 'mistral', architectures: ['MistralForCausalLM'] }],
  ['GPT-2 (LMHeadModel, unknown family)', { model_type: 'gpt2', architectures: ['GPT2LMHeadModel'] }],
  ['an encoder-decoder (T5)', { model_type: 't5', architectures: ['T5ForConditionalGeneration'] }],
  ['an unknown family without architectures', { model_type: 'funnel' }],
  ['a decoder base model (Qwen3Model)', { model_type: 'qwen3', architectures: ['Qwen3Model'] }],
  ['an encoder without a classification head (BertModel)', { model_type: 'bert', architectures: ['BertModel'] }],
  ['a masked LM (BertForMaskedLM)', { model_type: 'bert', architectures: ['BertForMaskedLM'] }],
  ['a causal LM named by a known encoder family', { model_type: 'bert', architectures: ['BertLMHeadModel'] }],
  // Known decoder rerankers, before crossrank can score them (this list shrinks as support lands).
  ['a Qwen3 causal-LM reranker', { model_type: 'qwen3', architectures: ['Qwen3ForCausalLM'] }],
  ['a Qwen3 seq-cls reranker', { model_type: 'qwen3', architectures: ['Qwen3ForSequenceClassification'], num_labels: 1 }],
];

describe('models crossrank cannot score are refused', () => {
  it.each(REFUSED)('load refuses %s with UNSUPPORTED_MODEL', async (_, config) => {
    const dir = folderWith(config);
    await expect(CrossEncoder.load(dir)).rejects.toMatchObject({
      code: 'UNSUPPORTED_MODEL',
      message: expect.stringMatching(/sentence-transformers 6\.2/),
    });
  });

  it('the known cross-encoder families still load', async () => {
    const model = await CrossEncoder.load(folderWith({ model_type: 'bert', architectures: ['BertForSequenceClassification'], num_labels: 1 }));
    expect(model.info.numLabels).toBe(1);
    await model.close();
    // A folder whose config.json names nothing (crossrank's own ONNX-only folders) is read as before.
    const bare = await CrossEncoder.load(folderWith({}));
    expect(bare.info.numLabels).toBe(1);
    await bare.close();
  });

  it.each(REFUSED)('crossrank convert refuses %s with exit 4 and writes nothing', (_, config) => {
    const src = folderWith(config);
    const out = join(mkdtempSync(join(tmpdir(), 'crossrank-llm-out-')), 'out');
    const run = spawnSync(PYTHON, [join(root, 'lib', 'python', 'convert.py'), '--model', src, '--out', out], { encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/unsupported model: config\.json: model_type/);
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it('convert.py and lib/model/families.ts know the same families', () => {
    const source = readFileSync(join(root, 'lib', 'python', 'convert.py'), 'utf8');
    const tuple = (name: string) =>
      [...(source.match(new RegExp(`^${name} = \\(([^)]*)\\)`, 'm'))?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]).sort();
    expect(tuple('ENCODER_FAMILIES')).toEqual(Object.keys(FAMILY_RULES).sort());
    expect(tuple('DECODER_FAMILIES')).toEqual([...DECODER_FAMILIES].sort());
  });
});
