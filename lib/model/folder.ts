// Reads a Hugging Face style model folder as is and decides everything the native side needs:
// which ONNX file, which tokenizer, the max length, the pad token, the labels and the default
// activation, following the rules of sentence-transformers' CrossEncoder.
import { type Dirent, existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';

import { CrossrankError } from '../errors.js';
import { MAX_JSON_BYTES, readModelFile } from './files.js';
import { type FileDevice, type FilePrecision, chooseModelFile, modelFileCandidates } from '../hub/choose.js';
import { type Activation, type ModelKind, folderActivation, lengthLimits, modelKind } from './families.js';

export type { Activation } from './families.js';

export interface ModelFolder {
  dir: string;
  modelPath: string;
  tokenizerPath: string;
  modelType: string | undefined;
  architecture: string | undefined;
  /** How sentence-transformers 6.2 reads the folder (lib/model/families.ts modelKind). */
  kind: ModelKind;
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
  /** config.json `pad_token_id` as written (undefined when absent): what transformers' seq-cls pooling compares ids against. */
  configPadId: number | undefined;
  vocabSize: number | undefined;
  /**
   * config.json's key/value heads (`num_key_value_heads`, else `num_attention_heads`) and head size
   * (`head_dim`, else `hidden_size / num_attention_heads`): the shape of the empty past fed to a
   * causal-LM graph with past_key_values inputs, where the graph leaves it symbolic.
   */
  kvHeads: number | undefined;
  headDim: number | undefined;
  /**
   * From the folder's sentence-transformers settings; undefined: sigmoid for 1 label, else
   * identity. An error when the folder names one crossrank cannot apply (thrown unless the
   * caller overrides the activation).
   */
  activation: Activation | CrossrankError | undefined;
  /** modules.json exists (sentence-transformers then reads its module configs and prompts). */
  hasModulesJson: boolean;
}

/**
 * Model files looked for, in order, when the caller names none, on this CPU's device 'cpu': the
 * file choice table of lib/hub/choose.ts (modelFileCandidates), shared by folders and hub repos.
 */
export const MODEL_FILE_CANDIDATES = {
  fp32: modelFileCandidates('fp32'),
  fp16: modelFileCandidates('fp16'),
  int8: modelFileCandidates('int8'),
  q4: modelFileCandidates('q4'),
} as const;

/** hidden_size / num_attention_heads when both are positive integers and it divides evenly. */
function headSize(config: Record<string, unknown>): number | undefined {
  const hidden = positiveInt(config.hidden_size);
  const heads = positiveInt(config.num_attention_heads);
  return hidden !== undefined && heads !== undefined && hidden % heads === 0 ? hidden / heads : undefined;
}

/** A JSON object file of the folder, read with the bounded reader (lib/model/files.ts); undefined when absent. */
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

/** Files of a model folder as chooseModelFile takes them: the root's and those one folder down (onnx/), with '/'. */
export function folderFiles(dir: string): string[] {
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

  // Read first: a model crossrank cannot score is refused before anything else is looked for.
  const config = (await readJson(join(dir, 'config.json'), 'config.json')) ?? {};
  const kind = modelKind(config);
  if (kind instanceof CrossrankError) throw kind;

  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) {
    throw new CrossrankError('MODEL_NOT_FOUND', `${relative(process.cwd(), tokenizerPath) || tokenizerPath} is missing: crossrank needs the fast tokenizer file tokenizer.json`);
  }
  const modelPath = resolveModelFile(dir, modelFile, precision, device);

  const tokenizerConfig = (await readJson(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json')) ?? {};
  const stConfig = await readJson(join(dir, 'config_sentence_transformers.json'), 'config_sentence_transformers.json');

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
  const limits = lengthLimits(config, tokenizerConfig);
  const { positionLimit } = limits;
  let { defaultMaxLength } = limits;
  const hasModulesJson = existsSync(join(dir, 'modules.json'));
  const activation = folderActivation(config, stConfig, hasModulesJson);
  if (hasModulesJson && kind !== 'cross-encoder') {
    // A saved Transformer module's max_seq_length sets what it truncates to (base/modules/transformer.py).
    const bert = await readJson(join(dir, 'sentence_bert_config.json'), 'sentence_bert_config.json');
    const saved = positiveInt(bert?.max_seq_length);
    if (saved !== undefined) defaultMaxLength = Math.min(saved, positionLimit);
  }

  return {
    dir,
    modelPath,
    tokenizerPath,
    modelType,
    architecture,
    kind,
    numLabels,
    labels,
    positionLimit,
    defaultMaxLength,
    truncateLeft: tokenizerConfig.truncation_side === 'left',
    padToken: tokenName(tokenizerConfig.pad_token),
    padId: typeof config.pad_token_id === 'number' && config.pad_token_id >= 0 ? config.pad_token_id : 0,
    configPadId: typeof config.pad_token_id === 'number' && Number.isInteger(config.pad_token_id) ? config.pad_token_id : undefined,
    vocabSize: positiveInt(config.vocab_size),
    kvHeads: positiveInt(config.num_key_value_heads) ?? positiveInt(config.num_attention_heads),
    headDim: positiveInt(config.head_dim) ?? headSize(config),
    activation,
    hasModulesJson,
  };
}
