// Reads a Hugging Face style model folder as is and decides everything the native side needs:
// which ONNX file, which tokenizer, the max length, the pad token, the labels and the default
// activation, following the rules of sentence-transformers' CrossEncoder.
import { type Dirent, existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';

import { CrossrankError } from './errors.js';
import { MAX_JSON_BYTES, readModelFile } from './files.js';
import { type FileDevice, type FilePrecision, chooseModelFile, modelFileCandidates } from './hub/choose.js';

export type Activation = 'sigmoid' | 'identity' | 'softmax' | 'tanh';

export interface ModelFolder {
  dir: string;
  modelPath: string;
  tokenizerPath: string;
  modelType: string | undefined;
  architecture: string | undefined;
  /** From config.json; the ONNX output shape has the final word. */
  numLabels: number | undefined;
  labels: string[] | undefined;
  /** The most tokens the model's position embeddings allow. */
  positionLimit: number;
  /** What transformers would truncate to: tokenizer_config.json's model_max_length, within the limit. */
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

/**
 * Model files looked for, in order, when the caller names none, on this CPU's device 'cpu': the
 * file choice table of lib/hub/choose.ts (modelFileCandidates), shared by folders and hub repos.
 */
export const MODEL_FILE_CANDIDATES = {
  fp32: modelFileCandidates('fp32'),
  fp16: modelFileCandidates('fp16'),
  int8: modelFileCandidates('int8'),
} as const;

// Model types whose position ids start after the padding index (RoBERTa's offset of 2).
const POSITION_OFFSET_TYPES = new Set(['roberta', 'xlm-roberta', 'camembert', 'longformer', 'xlm-roberta-xl']);

// Activation class names sentence-transformers writes (e.g. "torch.nn.modules.activation.Sigmoid").
// A Map: a name from the file such as "constructor" or "__proto__" must find nothing, not an
// Object.prototype member.
const ACTIVATIONS: ReadonlyMap<string, Activation> = new Map([
  ['Sigmoid', 'sigmoid'],
  ['Identity', 'identity'],
  ['Softmax', 'softmax'],
  ['Tanh', 'tanh'],
]);

/** A JSON object file of the folder, read with the bounded reader (lib/files.ts); undefined when absent. */
async function readJson(path: string, what: string): Promise<Record<string, unknown> | undefined> {
  const text = await readModelFile(path, what, MAX_JSON_BYTES);
  if (text === undefined) return undefined;
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

/**
 * An activation name as sentence-transformers saves it. Like CrossEncoder, names outside
 * `torch.` are not trusted and fall back to the default; a torch class crossrank does not
 * implement is an error the caller can avoid with the activation option.
 */
function parseActivation(name: unknown, source: string): Activation | CrossrankError | undefined {
  if (typeof name !== 'string' || !name.startsWith('torch.')) return undefined;
  const cls = name.split('.').pop() ?? '';
  return (
    ACTIVATIONS.get(cls) ??
    new CrossrankError(
      'INVALID_MODEL',
      `${source} names the activation ${JSON.stringify(name)}, which crossrank does not implement ` +
        `(supported: ${[...ACTIVATIONS.keys()].join(', ')}); pass the activation option to override it`,
    )
  );
}

/** Files of a model folder as chooseModelFile takes them: the root's and those one folder down (onnx/), with '/'. */
function folderFiles(dir: string): string[] {
  const files: string[] = [];
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return files;
  }
  for (const entry of entries) {
    if (entry.isDirectory()) {
      try {
        for (const inner of readdirSync(join(dir, entry.name))) files.push(`${entry.name}/${inner}`);
      } catch {
        // an unreadable subfolder holds no candidate
      }
    } else {
      files.push(entry.name); // files and symlinks (the HF cache's snapshots are symlinks)
    }
  }
  return files.sort();
}

function resolveModelFile(dir: string, modelFile: string | undefined, precision: FilePrecision, device: FileDevice): string {
  if (modelFile !== undefined) {
    const path = isAbsolute(modelFile) ? modelFile : join(dir, modelFile);
    if (!existsSync(path)) throw new CrossrankError('MODEL_NOT_FOUND', `model file ${path} does not exist`);
    return path;
  }
  return join(dir, chooseModelFile(folderFiles(dir), dir, precision, device));
}

export async function readModelFolder(
  dirArg: string,
  modelFile: string | undefined,
  precision: FilePrecision = 'fp32',
  device: FileDevice = 'cpu',
): Promise<ModelFolder> {
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
  const modelPath = resolveModelFile(dir, modelFile, precision, device);

  const config = (await readJson(join(dir, 'config.json'), 'config.json')) ?? {};
  const tokenizerConfig = (await readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json')) ?? {};
  const stConfig = (await readJson(join(dir, 'config_sentence_transformers.json'), 'config_sentence_transformers.json')) ?? {};

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

  const offset = modelType && POSITION_OFFSET_TYPES.has(modelType) ? (positiveInt(config.pad_token_id) ?? 1) + 1 : 0;
  const positions = positiveInt(config.max_position_embeddings);
  const positionLimit = positions !== undefined ? Math.max(1, positions - offset) : 512;
  // transformers writes a huge sentinel (1e30) when a tokenizer has no limit of its own.
  const tokenizerLimit = positiveInt(tokenizerConfig.model_max_length);
  const defaultMaxLength =
    tokenizerLimit !== undefined && tokenizerLimit < 1e9
      ? Math.min(tokenizerLimit, positionLimit)
      : Math.min(512, positionLimit);

  // sentence-transformers >= 4 keeps the activation in config.json; older versions used
  // sbert_ce_default_activation_function; some exports carry it in config_sentence_transformers.json.
  const stSection = config.sentence_transformers as Record<string, unknown> | undefined;
  const activation =
    parseActivation(stSection?.activation_fn, 'config.json sentence_transformers.activation_fn') ??
    parseActivation(config.sbert_ce_default_activation_function, 'config.json sbert_ce_default_activation_function') ??
    parseActivation(stConfig.activation_fn, 'config_sentence_transformers.json activation_fn');

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
