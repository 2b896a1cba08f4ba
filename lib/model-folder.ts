// Reads a Hugging Face style model folder as is and decides everything the native side needs:
// which ONNX file, which tokenizer, the max length, the pad token, the labels and the default
// activation, following the rules of sentence-transformers' CrossEncoder.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';

import { CrossrankError } from './errors.js';
import { type Activation, folderActivation, lengthLimits } from './model/families.js';

export type { Activation } from './model/families.js';

export interface ModelFolder {
  dir: string;
  modelPath: string;
  tokenizerPath: string;
  modelType: string | undefined;
  architecture: string | undefined;
  /** From config.json; the ONNX output shape has the final word. */
  numLabels: number | undefined;
  labels: string[] | undefined;
  /** The most tokens the model's position embeddings allow; Infinity for relative positions (DeBERTa-v2/v3). */
  positionLimit: number;
  /** What sentence-transformers truncates to (lib/model/families.ts lengthLimits), within positionLimit. */
  defaultMaxLength: number;
  truncateLeft: boolean;
  padToken: string | undefined;
  padId: number;
  vocabSize: number | undefined;
  /**
   * From the folder's sentence-transformers settings; undefined: sigmoid for 1 label, else
   * identity. An error when the folder names one crossrank cannot apply (thrown unless the
   * caller overrides the activation).
   */
  activation: Activation | CrossrankError | undefined;
}

/** Model files looked for, in order, when the caller names none: by precision, in the hub's names. */
export const MODEL_FILE_CANDIDATES = {
  fp32: ['model.onnx', 'onnx/model.onnx'],
  fp16: ['model_fp16.onnx', 'onnx/model_fp16.onnx'],
  int8: ['model_quantized.onnx', 'onnx/model_quantized.onnx', 'onnx/model_int8.onnx'],
} as const;

function readJson(path: string, what: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CrossrankError('INVALID_MODEL', `cannot read ${what} (${path}): ${(error as Error).message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (error) {
    throw new CrossrankError('INVALID_MODEL', `${what} is not valid JSON (${path}): ${(error as Error).message}`);
  }
}

function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

function resolveModelFile(dir: string, modelFile: string | undefined, precision: keyof typeof MODEL_FILE_CANDIDATES): string {
  if (modelFile !== undefined) {
    const path = isAbsolute(modelFile) ? modelFile : join(dir, modelFile);
    if (!existsSync(path)) throw new CrossrankError('MODEL_NOT_FOUND', `model file ${path} does not exist`);
    return path;
  }
  const candidates = MODEL_FILE_CANDIDATES[precision];
  for (const candidate of candidates) {
    const path = join(dir, candidate);
    if (existsSync(path)) return path;
  }
  // The listing is only a hint; it shows onnx/ too, where the hub keeps the other precisions.
  const list = (sub: string): string[] => {
    try {
      return readdirSync(join(dir, sub)).sort().map((f) => (sub ? `${sub}/${f}` : f));
    } catch {
      return [];
    }
  };
  const present = [...list('').filter((f) => f !== 'onnx'), ...list('onnx')].slice(0, 20).join(', ');
  throw new CrossrankError(
    'MODEL_NOT_FOUND',
    `no ${precision} ONNX model in ${dir}: looked for ${candidates.join(' and ')} (the folder holds: ${present || 'nothing'}). ` +
      'Make one with `crossrank convert`, or name it with the modelFile option.',
  );
}

export function readModelFolder(
  dirArg: string,
  modelFile: string | undefined,
  precision: keyof typeof MODEL_FILE_CANDIDATES = 'fp32',
): ModelFolder {
  const dir = resolve(dirArg);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new CrossrankError('MODEL_NOT_FOUND', `model folder ${dir} does not exist or is not a folder`);

  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) {
    throw new CrossrankError('MODEL_NOT_FOUND', `${relative(process.cwd(), tokenizerPath) || tokenizerPath} is missing: crossrank needs the fast tokenizer file tokenizer.json`);
  }
  const modelPath = resolveModelFile(dir, modelFile, precision);

  const config = readJson(join(dir, 'config.json'), 'config.json') ?? {};
  const tokenizerConfig = readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json') ?? {};
  const stConfig = readJson(join(dir, 'config_sentence_transformers.json'), 'config_sentence_transformers.json');

  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const architectures = Array.isArray(config.architectures) ? config.architectures : [];
  const architecture = typeof architectures[0] === 'string' ? architectures[0] : undefined;

  let labels: string[] | undefined;
  const id2label = config.id2label;
  if (id2label && typeof id2label === 'object') {
    const entries = Object.entries(id2label as Record<string, unknown>)
      .map(([k, v]) => [Number(k), String(v)] as const)
      .filter(([k]) => Number.isInteger(k) && k >= 0)
      .sort((a, b) => a[0] - b[0]);
    if (entries.length > 0) labels = entries.map(([, v]) => v);
  }
  const numLabels = positiveInt(config.num_labels) ?? labels?.length;

  // Family rules and their sources: lib/model/families.ts.
  const { positionLimit, defaultMaxLength } = lengthLimits(config, tokenizerConfig);
  const activation = folderActivation(config, stConfig, existsSync(join(dir, 'modules.json')));

  return {
    dir,
    modelPath,
    tokenizerPath,
    modelType,
    architecture,
    numLabels,
    labels,
    positionLimit,
    defaultMaxLength,
    truncateLeft: tokenizerConfig.truncation_side === 'left',
    padToken: tokenName(tokenizerConfig.pad_token),
    padId: typeof config.pad_token_id === 'number' && config.pad_token_id >= 0 ? config.pad_token_id : 0,
    vocabSize: positiveInt(config.vocab_size),
    activation,
  };
}
