// The public class. TypeScript decides *what* (validated options, defaults read from the model
// folder, coded errors); the native engine decides *how fast*.
import { isAbsolute, relative, resolve, sep } from 'node:path';

import { type ChunkInfo, type ChunkingOptions, documentRoom, planWindows, readChunking } from './chunking.js';
import { CrossrankError, fromNative } from './errors.js';
import { type DownloadProgress, type HubModel, resolveHubModel } from './hub/resolve.js';
import { type PrecisionChoice, type PrecisionOption, autoDevice, decideFolderPrecision, explicitChoice, folderFusedFp32, resolveHubAuto } from './hub/precision.js';
import { parseModelRef } from './hub/settings.js';
import { type Activation, folderFiles, readModelFolder } from './model/folder.js';
import { addonSource, cudaProviderPath, describeAddon, native } from './native.js';
import type { ModelStats, NativeModel } from './types.js';
import { batchDependence, onnxMetadata } from './model/onnx-graph.js';
import type { ModelKind } from './model/families.js';
import { ChatPrompt, commonSuffix, logitScoreIds, restoreSuffix } from './model/prompt.js';
import { type IntOption, bindOptionTable, range } from './options.js';
import {
  checkKeys,
  checkObject,
  describe,
  invalid,
  onAbort,
  optionalBool,
  optionalEnum,
  optionalInt,
  optionalSignal,
  optionalString,
  signalAborted,
  snapshotPairs,
  snapshotStrings,
} from './validate.js';

/** Where a model runs: the CPU, a CUDA GPU, or CUDA when usable and else the CPU ('auto'). */
export type Device = 'cpu' | 'cuda' | 'auto';
export type { Activation, ChunkInfo, ChunkingOptions, PrecisionChoice, PrecisionOption };

/**
 * Which ONNX file to load by its numeric format: fp32 (the reference), fp16 (for GPUs), int8
 * (quantized, for CPUs) or q4 (4-bit weights: transformers.js's model_q4.onnx, model_q4f16.onnx,
 * model_bnb4.onnx, as onnx-community's LLM rerankers ship them). The file each picks:
 * lib/hub/choose.ts, docs/models.md "Which ONNX file".
 */
export type Precision = 'fp32' | 'fp16' | 'int8' | 'q4';

/**
 * Options of CrossEncoder.load. Integer options are checked against one table of ranges
 * (lib/options.ts INT_OPTIONS), which the addon enforces too.
 */
export interface LoadOptions {
  /** Where to run. 'auto' picks CUDA when usable, else CPU (info.deviceReason says why). Default 'cpu'. */
  device?: Device;
  /** Which CUDA device (default 0). */
  deviceId?: number;
  /**
   * Which ONNX file of the folder or hub repo, by precision and device, in the hub's names
   * (the table in lib/hub/choose.ts): fp32 model.onnx (default), fp16 model_fp16.onnx or on CUDA
   * model_O4.onnx, int8 the qint8/quint8 file for this CPU's instruction sets, else
   * model_quantized.onnx. 'auto': int8 on a CPU, fp16 on CUDA, only where `crossrank convert`
   * checked that file at its default bounds and (int8) the CPU and model shape were measured to
   * gain from it; else fp32 (docs/int8.md "precision 'auto'"). info.precisionChoice says which
   * and why. modelFile wins over it.
   */
  precision?: PrecisionOption;
  /** ONNX Runtime intra-op threads; 0 or undefined: one per physical core. */
  threads?: number;
  /** Threads that tokenize a call's pairs; 0 or undefined: cores, at most 8. */
  tokenizerThreads?: number;
  /**
   * Batches in flight at once. Default: 1 on CPU (one run already uses every core), 2 on CUDA
   * (each run gets its own CUDA stream, so one batch's copies and host work overlap another's kernels).
   */
  concurrentRuns?: number;
  /**
   * Truncate pairs to this many tokens (special tokens included). Default: the model's own limit.
   * It must leave room for text after the special tokens of a pair: at least 4 for BERT
   * ([CLS] q [SEP] d [SEP]), 5 for RoBERTa; less is INVALID_ARGUMENT at load (the tokenizer is asked).
   */
  maxLength?: number;
  /**
   * ONNX file inside the folder or hub repo (e.g. 'onnx/model_quantized.onnx'), relative to it or
   * absolute; overrides the choice by precision. It must lie inside the folder once resolved
   * ('..' and absolute paths elsewhere give INVALID_ARGUMENT), so a value that reached it from a
   * request cannot make crossrank open an arbitrary file; symbolic links inside the folder are
   * followed, as the Hugging Face cache needs. To use an ONNX file kept elsewhere, make a folder
   * that links to it. Still, never pass a client's input here unchecked: it picks which of the
   * folder's models runs.
   */
  modelFile?: string;
  /** Default activation of predict(); overrides the model folder's. */
  activation?: Activation;
  /** ONNX Runtime graph optimisations (default true). */
  optimizeGraph?: boolean;
  /** Let ONNX Runtime's threads spin while idle (default true; see bench/RESULTS.md). */
  allowSpinning?: boolean;
  /**
   * Back-pressure: pairs the model may hold queued across all calls (default 1,048,576). A call
   * that would exceed it rejects with QUEUE_FULL (a single call of any size is taken when idle).
   */
  maxQueuedPairs?: number;
  /**
   * For a hub id: the branch, tag or commit (default 'main'; `org/name@revision` says the same).
   * Loading by id downloads into the Hugging Face cache (HF_HUB_CACHE / HF_HOME) from HF_ENDPOINT
   * with HF_TOKEN; HF_HUB_OFFLINE=1 uses only the cache. See lib/hub/resolve.ts.
   */
  revision?: string;
  /** Called as a hub download progresses (bytes); crossrank itself prints nothing. */
  onProgress?: (progress: DownloadProgress) => void;
  /**
   * ONNX Runtime's own log lines, printed on stderr as `crossrank: onnxruntime <level>: ...`:
   * 'off' (default; its errors still reject as coded errors), 'error', 'warning', 'info', 'verbose'.
   */
  logLevel?: LogLevel;
}

/** The least severe ONNX Runtime log line printed on stderr ('off': none; its errors still reject). */
export type LogLevel = 'off' | 'error' | 'warning' | 'info' | 'verbose';
// OrtLoggingLevel of each: the least severe line printed (4: fatal only).
const LOG_SEVERITY: Record<LogLevel, number> = { verbose: 0, info: 1, warning: 2, error: 3, off: 4 };

/** Options of predict() (and rerank()). Integer options are checked against lib/options.ts. */
export interface PredictOptions {
  /** Most pairs per ONNX Runtime run (default 256). Scores do not depend on it. */
  batchSize?: number;
  /** Most rows x padded length per run (default 2,048 on CPU, 262,144 on CUDA): the real batch size on a CPU. */
  maxBatchTokens?: number;
  /** Overrides the model's activation for this call. */
  activation?: Activation;
  /**
   * LLM rerankers only: the instruction rendered into the prompt (sentence-transformers' `prompt`:
   * a 'system' message before the pair). Default: the model's own (info.llm.instruction); '' for
   * none. INVALID_ARGUMENT on a cross-encoder, which has no prompt.
   */
  instruction?: string;
  /** Cancels the call; it then rejects with code ABORTED. */
  signal?: AbortSignal;
}

/** Options of rerank(): predict()'s, and which results to return. */
export interface RerankOptions extends PredictOptions {
  /** Keep the best topK results (default: all). */
  topK?: number;
  /** Include each document's text in its result (default false). */
  returnDocuments?: boolean;
  /**
   * Score long documents by their best passage (MaxP) instead of truncating them: a document
   * longer than the room the query leaves in a pair is cut into token windows (`overlap` tokens
   * shared, at most `maxChunks`), each window's text is scored with the query as its own pair,
   * and the document gets its best window's score; each result then says which window in
   * `chunk`. `{}` takes the defaults (maxChunks 10, overlap 0). Without it, documents are
   * truncated as before. Costs one more tokenization of each document (for the token offsets)
   * and one pair per window.
   */
  chunking?: ChunkingOptions;
}

/** One document of a rerank() result, best first. */
export interface RerankResult {
  /** Position of the document in the input array. */
  index: number;
  /** The document's score: the model's logit after the activation (sigmoid: in [0, 1]). */
  score: number;
  /** The document's text, with returnDocuments. */
  document?: string;
  /** With options.chunking: the window that gave the score (character offsets into the document). */
  chunk?: ChunkInfo;
}

/**
 * Which ONNX graph runs an LLM reranker (LlmInfo.graph):
 * - 'score': crossrank's score graph (`crossrank convert`): one logit per pair, computed from the
 *   last real position's hidden state and the two token rows only. The fast one.
 * - 'causal-lm-with-past': a causal-LM export in the transformers.js / optimum / onnx-community
 *   layout (input_ids, attention_mask, position_ids, empty past_key_values.{i}.key/value ->
 *   logits [batch, sequence, vocab]), as `onnx-community/Qwen3-Reranker-0.6B-ONNX` ships. The graph
 *   computes every vocabulary logit at every position; crossrank reads two per pair. Slower, and
 *   its batches are bounded to 512 MiB of logits.
 * - 'sequence-classification': a decoder seq-cls model exported as is (input_ids, attention_mask and
 *   optionally position_ids -> logits [batch, 1]), transformers' own pooling inside: the last token
 *   that is not config.json's pad_token_id, which must then be the id crossrank pads with.
 */
export type LlmGraph = 'score' | 'causal-lm-with-past' | 'sequence-classification';

/** How an LLM reranker is read (ModelInfo.llm), as sentence-transformers 6.2 reads it. */
export interface LlmInfo {
  /** Which kind of ONNX graph runs it (see LlmGraph): 'score' (crossrank convert's, fast), 'causal-lm-with-past' or 'sequence-classification'. */
  graph: LlmGraph;
  /** Where the chat template came from. */
  templateSource: 'chat_template.jinja' | 'tokenizer_config.json';
  /** How message contents are passed to the template (sentence-transformers' message format). */
  messageFormat: 'flat' | 'structured';
  /** causal-lm: the score is logit[trueTokenId] - logit[falseTokenId] (or logit[trueTokenId] alone when null). */
  trueTokenId: number | null;
  /** causal-lm: the token whose logit is subtracted; null when the score is the true token's logit alone (bge-reranker-v2-gemma). */
  falseTokenId: number | null;
  /** Where those ids come from (modules.json's LogitScore, or the tokens "yes"/"no"). */
  tokenSource: string | null;
  /** The default instruction (the folder's default prompt); null: the template's own text. */
  instruction: string | null;
  /** Template tail restored over the last tokens of a truncated prompt (default instruction). */
  suffixIds: number[];
}

/** What CrossEncoder.info reports: the files loaded, the model's shape and how it runs. */
export interface ModelInfo {
  /** The model folder (for a hub id, its snapshot folder in the Hugging Face cache). */
  dir: string;
  /** The ONNX file loaded (absolute path). */
  modelPath: string;
  /** The tokenizer.json loaded (absolute path). */
  tokenizerPath: string;
  /** config.json `model_type` (e.g. 'bert', 'xlm-roberta'), when present. */
  modelType: string | undefined;
  /** config.json `architectures[0]` (e.g. 'BertForSequenceClassification'), when present. */
  architecture: string | undefined;
  /**
   * 'cross-encoder' (an encoder with a classification head), 'causal-lm' (an LLM reranker scored by
   * token logits) or 'sequence-classification' (a decoder with a one-label head, pooled at the last token).
   */
  kind: ModelKind;
  /** LLM rerankers (kind 'causal-lm' or 'sequence-classification'): the prompt and score they use. */
  llm?: LlmInfo;
  /** Scores per pair: the ONNX graph's logits width (1 for rerankers). */
  numLabels: number;
  /** config.json `id2label` names, in label order, when present. */
  labels: string[] | undefined;
  /** Tokens per pair after truncation, special tokens included. */
  maxLength: number;
  /** The activation predict() applies by default (sentence-transformers' rule, or options.activation). */
  activation: Activation;
  /**
   * The ONNX graph's input names (input_ids, attention_mask, and token_type_ids when it takes them;
   * a causal-LM graph with past (info.llm.graph 'causal-lm-with-past'): also position_ids and every
   * past_key_values.{i}.key/value, fed empty).
   */
  inputs: string[];
  /** The ONNX graph's logits output name. */
  output: string;
  /** The logits' element type in the graph; scores are always returned as float32. */
  outputType: 'float32' | 'float16';
  /** Where the model runs (with device 'auto', what it resolved to). */
  device: 'cpu' | 'cuda';
  /** Why this device was chosen (useful with device 'auto'). */
  deviceReason: string;
  /** ONNX Runtime execution providers of the session, in priority order. */
  providers: string[];
  /**
   * Where batches are staged for the device: 'pinned' (the CUDA provider's page-locked host memory,
   * copied to the GPU asynchronously) or 'cpu'. Turns 'cpu' for good if the provider refuses pinned inputs.
   */
  inputMemory: 'cpu' | 'pinned';
  /** Batches in flight at once (options.concurrentRuns, or the device's default). */
  concurrentRuns: number;
  /**
   * How the file's precision was decided: what options.precision asked for ('fp32' when not
   * given), the precision loaded, and why (for 'auto': the condition that decided). Absent when
   * options.modelFile named the file.
   */
  precisionChoice?: PrecisionChoice;
  /**
   * True when a pair's score can depend on the other pairs in its batch: the graph quantizes
   * activations dynamically (int8 files from onnxruntime.quantization.quantize_dynamic, the hub's
   * model_qint8_*.onnx / model_quantized.onnx), so each batch gets its own activation scales.
   * Concurrent calls on one model share batches, so such a score can move with what else runs.
   * The same call on an idle model still repeats exactly. See docs/usage.md, "Repeatable scores and batch dependence".
   */
  batchDependent: boolean;
  /** Why batchDependent is what it is: the operators found, or why the graph could not be read. */
  batchDependentReason: string;
  /** The ONNX Runtime version the addon runs (e.g. '1.29.0'). */
  onnxruntimeVersion: string;
  /**
   * Set when the model was loaded by hub id: the repo, the revision asked for, the commit it
   * resolved to, the ONNX file chosen (repo path), and whether the hub was asked ('hub') or only
   * the cache ('cache': offline, or the hub unreachable).
   */
  hub?: {
    /** The repo id as given (org/name); a renamed repo is followed through the hub's redirect. */
    repo: string;
    /** The branch, tag or commit asked for. */
    revision: string;
    /** The commit it resolved to (40 hex digits). */
    commit: string;
    /** The ONNX file's path inside the repo. */
    file: string;
    /** 'hub' when the hub answered, 'cache' when only the cache was used. */
    source: 'hub' | 'cache';
  };
  /**
   * Which native addon runs the model: 'name@version (path)' of the platform package (e.g.
   * @crossrank/linux-x64-gnu-cuda), 'source build (path)' or 'CROSSRANK_ADDON (path)'.
   */
  addon: string;
}

const LOAD_KEYS = [
  'device', 'deviceId', 'precision', 'threads', 'tokenizerThreads', 'concurrentRuns', 'maxLength', 'modelFile', 'activation', 'optimizeGraph', 'allowSpinning', 'maxQueuedPairs', 'revision', 'onProgress',
  'logLevel',
] as const;
const PREDICT_KEYS = ['batchSize', 'maxBatchTokens', 'activation', 'instruction', 'signal'] as const;
const RERANK_KEYS = [...PREDICT_KEYS, 'topK', 'returnDocuments', 'chunking'] as const;
const ACTIVATIONS: readonly Activation[] = ['sigmoid', 'identity', 'softmax', 'tanh'];
/** An integer option checked against the one option table (lib/options.ts). */
const int = (name: string, option: IntOption, value: unknown): number | undefined =>
  optionalInt(name, value, range(option).min, range(option).max);
const DEVICES: readonly Device[] = ['cpu', 'cuda', 'auto'];
const PRECISIONS: readonly PrecisionOption[] = ['fp32', 'fp16', 'int8', 'q4', 'auto'];
// Per-call defaults by device. On a CPU, batches of about 2,048 tokens keep activations in cache
// (measured in bench/TUNING.md: minilm-l6 81 -> 119 pairs/s against a fixed 32 rows); a GPU wants
// large batches to fill it.
const CALL_DEFAULTS = {
  cpu: { batchSize: 256, maxBatchTokens: 2048 },
  cuda: { batchSize: 256, maxBatchTokens: 262144 },
} as const;

interface CallSettings {
  batchSize: number;
  maxBatchTokens: number;
  activation: Activation;
  /** LLM rerankers: the instruction of this call ('' or undefined: none). */
  instruction: string | undefined;
  signal: AbortSignal | undefined;
}

/** Prompts rendered per turn of the event loop (chat templates render in JS). */
const RENDER_CHUNK = 256;

/**
 * A cross-encoder model loaded into the native engine: scores (query, document) pairs with one
 * scheduler per model that batches every concurrent call. Create it with CrossEncoder.load(); free
 * it with close(). Scores equal sentence-transformers' CrossEncoder.predict on the same weights
 * (fp32: within 1e-4). Every failure is a CrossrankError with a stable code.
 */
export class CrossEncoder {
  #native: NativeModel | undefined;
  readonly #info: ModelInfo;
  readonly #prompt: ChatPrompt | undefined;
  /** Restored tails by instruction (a template may render the instruction in its tail). */
  readonly #suffixes = new Map<string, Uint32Array>();

  private constructor(nativeModel: NativeModel, info: ModelInfo, prompt?: ChatPrompt) {
    this.#native = nativeModel;
    this.#info = info;
    this.#prompt = prompt;
  }

  /**
   * Loads a model folder (Hugging Face layout with an ONNX file), or a hub model by id
   * (`org/name`, `org/name@revision`): an existing path is always a folder. A hub model is
   * downloaded into the Hugging Face cache (only the files it needs) unless cached; the ONNX file
   * is chosen by device and precision (lib/hub/choose.ts). Loading runs off the main thread.
   */
  static async load(dir: string, options?: LoadOptions): Promise<CrossEncoder> {
    if (typeof dir !== 'string' || dir.length === 0) throw invalid('dir', 'a non-empty string', dir);
    const o = checkObject('options', options);
    checkKeys('options', o, LOAD_KEYS);
    const device = optionalEnum('options.device', o.device, DEVICES) ?? 'cpu';
    const deviceId = int('options.deviceId', 'deviceId', o.deviceId) ?? 0;
    const precisionOption = optionalEnum('options.precision', o.precision, PRECISIONS);
    const threads = int('options.threads', 'intraOpThreads', o.threads) ?? 0;
    const tokenizerThreads = int('options.tokenizerThreads', 'tokenizerThreads', o.tokenizerThreads) ?? 0;
    const concurrentRuns = int('options.concurrentRuns', 'concurrentRuns', o.concurrentRuns) ?? 0;
    const maxLengthOption = int('options.maxLength', 'maxLength', o.maxLength);
    const modelFile = optionalString('options.modelFile', o.modelFile);
    const activationOption = optionalEnum('options.activation', o.activation, ACTIVATIONS);
    const optimizeGraph = optionalBool('options.optimizeGraph', o.optimizeGraph) ?? true;
    const allowSpinning = optionalBool('options.allowSpinning', o.allowSpinning) ?? true;
    const maxQueuedPairs = int('options.maxQueuedPairs', 'maxQueuedPairs', o.maxQueuedPairs) ?? 1 << 20;
    const logLevel = optionalEnum('options.logLevel', o.logLevel, Object.keys(LOG_SEVERITY) as LogLevel[]) ?? 'off';

    const revision = optionalString('options.revision', o.revision);
    if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw invalid('options.onProgress', 'a function', o.onProgress);
    const onProgress = o.onProgress as LoadOptions['onProgress'];

    const ref = parseModelRef(dir, revision);
    // A hub repo's paths are checked against its snapshot folder by lib/hub.
    if (modelFile !== undefined && 'folder' in ref) checkInsideFolder(ref.folder, modelFile);
    let hub: HubModel | undefined;
    let precisionChoice: PrecisionChoice | undefined;
    let precision = precisionOption === 'auto' ? undefined : precisionOption;
    let file = modelFile;
    let fusedFile: string | undefined;
    if (precisionOption === 'auto' && modelFile === undefined) {
      const ruleDevice = autoDevice(device, device === 'auto' && cudaProviderPath() !== '');
      if ('hub' in ref) {
        ({ hub, choice: precisionChoice } = await resolveHubAuto(ref.hub, ruleDevice, { device, onProgress }));
      } else {
        const decision = await decideFolderPrecision(resolve(ref.folder), folderFiles(resolve(ref.folder)), ruleDevice);
        precisionChoice = { requested: 'auto', chosen: decision.chosen, reason: decision.reason };
        file = decision.file;
      }
      precision = precisionChoice.chosen;
    } else if ('hub' in ref) {
      hub = await resolveHubModel(ref.hub, { precision, device, modelFile, onProgress });
    } else if (modelFile === undefined && (precision === undefined || precision === 'fp32')) {
      // fp32 from a folder convert made: its checked fused graph, the same weights run faster.
      fusedFile = await folderFusedFp32(resolve(ref.folder), folderFiles(resolve(ref.folder)));
      file = fusedFile;
    }
    const folder = hub
      ? await readModelFolder(hub.dir, hub.file, precision, device)
      : await readModelFolder(dir, file, precision, device);
    if (modelFile === undefined && precisionChoice === undefined) {
      precisionChoice = explicitChoice(precision, relative(folder.dir, folder.modelPath).split(sep).join('/'), fusedFile !== undefined);
    }
    if (folder.activation instanceof CrossrankError && activationOption === undefined) throw folder.activation;
    const folderActivation = folder.activation instanceof CrossrankError ? undefined : folder.activation;
    if (maxLengthOption !== undefined && maxLengthOption > folder.positionLimit) {
      throw new CrossrankError(
        'INVALID_ARGUMENT',
        `options.maxLength must be at most ${folder.positionLimit} for this model (its position embeddings), received the number ${maxLengthOption}`,
      );
    }
    const maxLength = maxLengthOption ?? folder.defaultMaxLength;
    const decoder = folder.kind !== 'cross-encoder';
    // LLM rerankers: the prompt, and what the ONNX graph must compute, checked before anything runs.
    let prompt: ChatPrompt | undefined;
    let llm: LlmInfo | undefined;
    if (decoder) {
      prompt = await ChatPrompt.read(folder.dir, folder.hasModulesJson);
      llm = await checkScoreGraph(folder.kind, folder.dir, folder.modelPath, folder.hasModulesJson, folder.tokenizerPath);
      llm.templateSource = prompt.templateSource;
      llm.messageFormat = prompt.format;
      llm.instruction = prompt.defaultInstruction ?? null;
    }

    const binding = bindOptionTable(native());
    let nativeModel: NativeModel;
    try {
      nativeModel = await binding.NativeModel.load({
        modelPath: folder.modelPath,
        tokenizerPath: folder.tokenizerPath,
        maxLength,
        truncateLeft: folder.truncateLeft,
        padToken: folder.padToken,
        padId: folder.padId,
        numLabels: folder.numLabels ?? 0,
        intraOpThreads: threads,
        interOpThreads: 1,
        tokenizerThreads,
        concurrentRuns,
        optimizeGraph,
        allowSpinning,
        logSeverity: LOG_SEVERITY[logLevel],
        maxQueuedPairs,
        device,
        deviceId,
        cudaProviderPath: device === 'cpu' ? '' : cudaProviderPath(),
        chat: decoder,
        ...(llm?.graph === 'sequence-classification' && { graph: 'decoder-classifier' as const }),
        ...(llm?.graph === 'causal-lm-with-past' && {
          graph: 'causal-lm-with-past' as const,
          scoreTrueId: llm.trueTokenId!,
          scoreFalseId: llm.falseTokenId ?? 0,
          scoreTrueOnly: llm.falseTokenId === null,
          kvHeads: folder.kvHeads ?? 0,
          headDim: folder.headDim ?? 0,
          vocabSize: folder.vocabSize ?? 0,
        }),
      });
    } catch (error) {
      throw fromNative(error);
    }
    const n = nativeModel.info();
    if (folder.vocabSize !== undefined && n.vocabSize > folder.vocabSize) {
      await nativeModel.close();
      throw new CrossrankError(
        'INVALID_MODEL',
        `tokenizer.json has ${n.vocabSize} tokens but config.json gives the model a vocabulary of ${folder.vocabSize}: ` +
          'the tokenizer does not belong to this model',
      );
    }
    if (folder.numLabels !== undefined && folder.numLabels !== n.numLabels) {
      await nativeModel.close();
      throw new CrossrankError(
        'INVALID_MODEL',
        `config.json says num_labels ${folder.numLabels} but the ONNX model outputs ${n.numLabels} logits per pair`,
      );
    }
    const dependence = await batchDependence(folder.modelPath);
    const info: ModelInfo = {
      dir: folder.dir,
      modelPath: folder.modelPath,
      tokenizerPath: folder.tokenizerPath,
      modelType: folder.modelType,
      architecture: folder.architecture,
      kind: folder.kind,
      numLabels: n.numLabels,
      labels: folder.labels,
      maxLength: n.maxLength,
      activation: activationOption ?? folderActivation ?? (n.numLabels === 1 ? 'sigmoid' : 'identity'),
      inputs: n.inputs,
      output: n.output,
      outputType: n.outputType,
      device: n.device,
      deviceReason: n.deviceReason,
      providers: n.providers,
      inputMemory: nativeModel.inputMemory ?? 'cpu',
      concurrentRuns: n.concurrentRuns,
      ...(precisionChoice ? { precisionChoice } : {}),
      batchDependent: dependence.batchDependent,
      batchDependentReason: dependence.reason,
      onnxruntimeVersion: binding.versions.onnxruntime,
      addon: describeAddon(addonSource()!),
    };
    if (hub) info.hub = { repo: hub.repo, revision: hub.revision, commit: hub.commit, file: hub.file, source: hub.source };
    const model = new CrossEncoder(nativeModel, info, prompt);
    if (llm) {
      if (n.numLabels !== 1) {
        await nativeModel.close();
        throw new CrossrankError('UNSUPPORTED_MODEL', `an LLM reranker's graph must output one score per pair; this one outputs ${n.numLabels}`);
      }
      if (llm.graph === 'sequence-classification' && folder.configPadId !== n.padId) {
        // transformers' pooling inside the graph takes the last token that is not config.json's
        // pad_token_id; crossrank's padding must be that token, or it pools a padding position.
        await nativeModel.close();
        throw new CrossrankError(
          'UNSUPPORTED_MODEL',
          `${folder.modelPath} is a seq-cls graph that pools the last token other than config.json's pad_token_id ` +
            `(${folder.configPadId ?? 'none'}), but the tokenizer pads with ${n.padId}: convert the folder with \`crossrank convert\``,
        );
      }
      try {
        llm.suffixIds = [...(await model.#suffix(nativeModel, llm.instruction ?? undefined))];
      } catch (error) {
        await nativeModel.close();
        throw error;
      }
      info.llm = llm;
    }
    return model;
  }

  /** What was loaded and how it runs. */
  get info(): ModelInfo {
    const inputMemory = this.#native?.inputMemory ?? this.#info.inputMemory; // may fall back after load
    return {
      ...this.#info,
      inputMemory,
      inputs: [...this.#info.inputs],
      labels: this.#info.labels && [...this.#info.labels],
      hub: this.#info.hub && { ...this.#info.hub },
      ...(this.#info.precisionChoice ? { precisionChoice: { ...this.#info.precisionChoice } } : {}),
      llm: this.#info.llm && { ...this.#info.llm, suffixIds: [...this.#info.llm.suffixIds] },
    };
  }

  /** Counters since load: pairs, batches, tokens against padded positions, windows. */
  stats(): ModelStats {
    try {
      return this.#open().stats();
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** True once close() was called: every later call rejects with CLOSED. */
  get closed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Scores (first, second) text pairs. Returns one score per pair, or numLabels scores per pair
   * (row-major) when the model has several labels. `pairs` is read once, when the call is made.
   */
  async predict(pairs: ReadonlyArray<readonly [string, string]>, options?: PredictOptions): Promise<Float32Array> {
    const model = this.#open();
    const { first, second } = snapshotPairs('pairs', pairs);
    const settings = this.#callSettings('options', options, PREDICT_KEYS);
    if (first.length === 0) return new Float32Array(0);
    return this.#run(model, first, second, settings);
  }

  /**
   * Scores every document against the query and returns them best first (ties: lower index first),
   * at most topK of them. Needs a model with one label. `documents` is read once, when the call is
   * made (its length and each element exactly once): results describe the documents as they were
   * then, whatever the caller does to the array meanwhile.
   */
  async rerank(query: string, documents: readonly string[], options?: RerankOptions): Promise<RerankResult[]> {
    const model = this.#open();
    if (typeof query !== 'string') throw invalid('query', 'a string', query);
    // One snapshot per call: everything below, results included, uses this copy, never the
    // caller's array again (it may change while the call runs).
    const docs = snapshotStrings('documents', documents);
    const settings = this.#callSettings('options', options, RERANK_KEYS);
    const o = options as Record<string, unknown> | undefined;
    const topK = int('options.topK', 'topK', o?.topK) ?? docs.length;
    const returnDocuments = optionalBool('options.returnDocuments', o?.returnDocuments) ?? false;
    if (this.#info.numLabels !== 1) {
      throw new CrossrankError(
        'INVALID_ARGUMENT',
        `rerank needs a model with one label; this one has ${this.#info.numLabels}: use predict()`,
      );
    }
    if (docs.length === 0 || topK === 0) return [];

    // Score each distinct text once: repeats cost nothing and tie exactly, as they should.
    const slotOf = new Map<string, number>();
    const unique: string[] = [];
    const slots = new Int32Array(docs.length);
    for (let i = 0; i < docs.length; i++) {
      const text = docs[i]!;
      let slot = slotOf.get(text);
      if (slot === undefined) {
        slot = unique.length;
        slotOf.set(text, slot);
        unique.push(text);
      }
      slots[i] = slot;
    }
    const chunking = readChunking('options.chunking', o?.chunking);
    let chunkOf: ChunkInfo[] | undefined;
    let scores: Float32Array;
    if (chunking && this.#prompt) {
      // Windows are planned from the room a cross-encoder pair leaves; a chat prompt's template
      // takes room of its own, so MaxP is not offered for LLM rerankers yet.
      throw new CrossrankError('INVALID_ARGUMENT', `options.chunking applies to cross-encoders only; this model is a ${this.#info.kind}`);
    }
    if (chunking) {
      ({ scores, chunks: chunkOf } = await this.#runChunked(model, query, unique, chunking, settings));
    } else {
      scores = await this.#run(model, [query], unique, settings);
    }

    const order = Array.from({ length: docs.length }, (_, i) => i);
    const scoreAt = (i: number): number => scores[slots[i] as number] as number;
    order.sort((a, b) => {
      const sa = scoreAt(a);
      const sb = scoreAt(b);
      if (sa !== sb) {
        if (Number.isNaN(sa)) return 1; // NaN last
        if (Number.isNaN(sb)) return -1;
        return sb - sa;
      }
      return a - b;
    });
    return order.slice(0, Math.min(topK, docs.length)).map((index) => {
      const result: RerankResult = { index, score: scoreAt(index) };
      if (returnDocuments) result.document = docs[index]!;
      if (chunkOf) result.chunk = { ...chunkOf[slots[index] as number]! };
      return result;
    });
  }

  /**
   * The windows rerank's `chunking` would score for each document with this query (MaxP; see
   * RerankOptions.chunking): per document, its windows in order, as character offsets. A document
   * that fits in one pair is one window, the whole text. Scores nothing.
   */
  async windows(query: string, documents: readonly string[], chunking: ChunkingOptions = {}): Promise<ChunkInfo[][]> {
    const model = this.#open();
    if (typeof query !== 'string') throw invalid('query', 'a string', query);
    const docs = snapshotStrings('documents', documents);
    const settings = readChunking('chunking', chunking)!;
    if (this.#prompt) throw new CrossrankError('INVALID_ARGUMENT', `windows() applies to cross-encoders only; this model is a ${this.#info.kind}`);
    if (docs.length === 0) return [];
    try {
      const room = await documentRoom(model, query, this.#info.maxLength);
      return (await planWindows(model, docs, room, settings)).map((w) => w.chunks);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /**
   * Frees the model. Queued calls (and tokenize() calls not yet started) reject with code CLOSED,
   * the batch being run finishes, later calls reject with CLOSED. Resolves once the native
   * resources are released: the model's threads joined, its tokenizer and ONNX Runtime session
   * freed, with no garbage collection needed. Closing twice is harmless.
   */
  async close(): Promise<void> {
    const model = this.#native;
    this.#native = undefined;
    await model?.close();
  }

  /** Token ids and type ids exactly as predict() feeds them to the model. */
  async tokenize(pairs: ReadonlyArray<readonly [string, string]>): Promise<{
    /** Per pair: token ids, special tokens included, truncated to info.maxLength. */
    ids: Uint32Array[];
    /** Per pair: token type ids (0 for the first text, 1 for the second where the tokenizer sets them). */
    typeIds: Uint32Array[];
  }> {
    const model = this.#open();
    const { first, second } = snapshotPairs('pairs', pairs);
    if (first.length === 0) return { ids: [], typeIds: [] };
    try {
      if (this.#prompt) {
        // LLM rerankers: the rendered prompts with the default instruction, as predict() feeds them.
        const instruction = this.#info.llm?.instruction ?? undefined;
        const texts = await this.#render(first, second, instruction);
        const suffix = await this.#suffix(model, instruction);
        const out = await model.encode(texts, null);
        out.ids = out.ids.map((row) => restoreSuffix(row, suffix, this.#info.maxLength));
        return out;
      }
      return await model.encode(first, second);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Renders each pair's prompt, RENDER_CHUNK per turn of the event loop. */
  async #render(first: string[], second: string[], instruction: string | undefined): Promise<string[]> {
    const prompt = this.#prompt!;
    const texts = new Array<string>(second.length);
    for (let i = 0; i < second.length; i++) {
      if (i > 0 && i % RENDER_CHUNK === 0) await new Promise((resolve) => setImmediate(resolve));
      texts[i] = prompt.render(first.length === 1 ? first[0]! : first[i]!, second[i]!, instruction);
    }
    return texts;
  }

  /** The template tail restored on truncation for an instruction (sentence-transformers' rule, lib/model/prompt.ts). */
  async #suffix(model: NativeModel, instruction: string | undefined): Promise<Uint32Array> {
    const key = instruction ?? '';
    let suffix = this.#suffixes.get(key);
    if (suffix === undefined) {
      const [a, b] = this.#prompt!.skeletons(instruction);
      const { ids } = await model.encode([a, b], null);
      suffix = Uint32Array.from(commonSuffix(ids[0]!, ids[1]!));
      if (this.#suffixes.size >= 64) this.#suffixes.delete(this.#suffixes.keys().next().value!);
      this.#suffixes.set(key, suffix);
    }
    return suffix;
  }

  #open(): NativeModel {
    if (!this.#native) throw new CrossrankError('CLOSED', 'the model is closed');
    return this.#native;
  }

  #callSettings(name: string, options: unknown, keys: readonly string[]): CallSettings {
    const o = checkObject(name, options);
    checkKeys(name, o, keys);
    return {
      batchSize: int(`${name}.batchSize`, 'batchSize', o.batchSize) ?? CALL_DEFAULTS[this.#info.device].batchSize,
      maxBatchTokens: int(`${name}.maxBatchTokens`, 'maxBatchTokens', o.maxBatchTokens) ?? CALL_DEFAULTS[this.#info.device].maxBatchTokens,
      activation: optionalEnum(`${name}.activation`, o.activation, ACTIVATIONS) ?? this.#info.activation,
      instruction: this.#instruction(name, o.instruction),
      signal: optionalSignal(`${name}.signal`, o.signal),
    };
  }

  /** MaxP (lib/chunking.ts): every window of every document in one call, each document's best window. */
  async #runChunked(model: NativeModel, query: string, documents: string[], chunking: { maxChunks: number; overlap: number }, settings: CallSettings): Promise<{ scores: Float32Array; chunks: ChunkInfo[] }> {
    if (settings.signal && signalAborted(settings.signal)) throw new CrossrankError('ABORTED', 'the call was aborted before it started');
    let windows;
    try {
      const room = await documentRoom(model, query, this.#info.maxLength);
      windows = await planWindows(model, documents, room, chunking);
    } catch (error) {
      throw fromNative(error);
    }
    const texts = windows.flatMap((w) => w.texts);
    const windowScores = await this.#run(model, [query], texts, settings);
    const scores = new Float32Array(documents.length);
    const chunks: ChunkInfo[] = [];
    let at = 0;
    for (let d = 0; d < documents.length; d++) {
      const w = windows[d]!;
      // The first best window wins a tie; NaN only when every window is NaN.
      let best = 0;
      for (let k = 1; k < w.texts.length; k++) {
        const s = windowScores[at + k] as number;
        const b = windowScores[at + best] as number;
        if (s > b || (Number.isNaN(b) && !Number.isNaN(s))) best = k;
      }
      scores[d] = windowScores[at + best] as number;
      chunks.push(w.chunks[best]!);
      at += w.texts.length;
    }
    return { scores, chunks };
  }

  #instruction(name: string, value: unknown): string | undefined {
    if (value === undefined) return this.#info.llm?.instruction ?? undefined;
    // '' is allowed and means no instruction at all, as sentence-transformers adds a prompt only
    // when it is non-empty: the way to switch a model's default instruction off.
    if (typeof value !== 'string') throw invalid(`${name}.instruction`, 'a string', value);
    const instruction = value;
    if (!this.#prompt) {
      throw new CrossrankError('INVALID_ARGUMENT', `${name}.instruction applies to LLM rerankers only; this model is a ${this.#info.kind}`);
    }
    return instruction;
  }

  async #run(model: NativeModel, first: string[], second: string[], settings: CallSettings): Promise<Float32Array> {
    const { signal } = settings;
    if (signal && signalAborted(signal)) throw new CrossrankError('ABORTED', 'the call was aborted before it started');
    const cancel = signal ? new Int32Array(1) : undefined;
    const stopListening = signal
      ? onAbort(signal, () => {
          if (cancel) cancel[0] = 1;
        })
      : undefined;
    try {
      if (this.#prompt) {
        // LLM rerankers: one rendered prompt per pair, tokenized as a single text.
        const texts = await this.#render(first, second, settings.instruction);
        const chatSuffix = await this.#suffix(model, settings.instruction);
        if (cancel?.[0]) throw new CrossrankError('ABORTED', 'the call was aborted');
        return await model.predict(texts, null, {
          batchSize: settings.batchSize,
          maxBatchTokens: settings.maxBatchTokens,
          activation: settings.activation,
          cancel,
          chatSuffix,
        });
      }
      return await model.predict(first, second, {
        batchSize: settings.batchSize,
        maxBatchTokens: settings.maxBatchTokens,
        activation: settings.activation,
        cancel,
      });
    } catch (error) {
      throw fromNative(error);
    } finally {
      stopListening?.();
    }
  }
}

/**
 * What an LLM reranker's ONNX file must compute. A graph with the metadata `crossrank convert`
 * writes (lib/python/convert.py export_llm) is a score graph of that kind (the last real position's
 * logits, no KV cache) and, for a causal LM, names the true/false token ids, checked against those
 * sentence-transformers 6.2 scores with. A causal-LM folder's file without that metadata is taken
 * for a causal-LM graph with past_key_values inputs (graph 'causal-lm-with-past'): the native
 * session checks its inputs and output at load and refuses (UNSUPPORTED_MODEL) anything else.
 * A seq-cls folder's file without it is taken for the model's own seq-cls graph (graph
 * 'sequence-classification'), whose pooling finds the last token by config.json's pad_token_id:
 * CrossEncoder.load then checks crossrank pads with that id.
 */
async function checkScoreGraph(kind: ModelKind, dir: string, modelPath: string, hasModulesJson: boolean, tokenizerPath: string): Promise<LlmInfo> {
  let meta: Map<string, string>;
  try {
    meta = await onnxMetadata(modelPath);
  } catch (error) {
    throw new CrossrankError('INVALID_MODEL', `${modelPath} is not a readable ONNX model: ${(error as Error).message}`);
  }
  const graphKind = meta.get('crossrank.kind');
  const pastGraph = graphKind === undefined && kind === 'causal-lm';
  const exportedSeqCls = graphKind === undefined && kind === 'sequence-classification';
  if (graphKind !== kind && !pastGraph && !exportedSeqCls) {
    throw new CrossrankError(
      'UNSUPPORTED_MODEL',
      `${modelPath} is not a crossrank score graph for a ${kind} reranker (metadata crossrank.kind: ${JSON.stringify(graphKind ?? null)}); ` +
        'export one with `crossrank convert --model HF_DIR --out DIR`',
    );
  }
  const info: LlmInfo = {
    graph: pastGraph ? 'causal-lm-with-past' : exportedSeqCls ? 'sequence-classification' : 'score',
    templateSource: 'chat_template.jinja',
    messageFormat: 'flat',
    trueTokenId: null,
    falseTokenId: null,
    tokenSource: null,
    instruction: null,
    suffixIds: [],
  };
  if (kind === 'causal-lm') {
    const expected = await logitScoreIds(dir, hasModulesJson, tokenizerPath);
    if (pastGraph && (expected.trueTokenId < 0 || (expected.falseTokenId ?? 0) < 0)) {
      throw new CrossrankError('INVALID_MODEL', `the score token ids ${expected.trueTokenId}/${expected.falseTokenId} (${expected.source}) are not vocabulary ids`);
    }
    if (!pastGraph) {
      const graphTrue = Number(meta.get('crossrank.true_token_id'));
      const graphFalse = meta.get('crossrank.false_token_id') === '' ? null : Number(meta.get('crossrank.false_token_id'));
      if (graphTrue !== expected.trueTokenId || graphFalse !== expected.falseTokenId) {
        throw new CrossrankError(
          'INVALID_MODEL',
          `${modelPath} scores tokens ${graphTrue}/${graphFalse} but sentence-transformers scores this folder with ` +
            `${expected.trueTokenId}/${expected.falseTokenId} (${expected.source}): convert the folder again`,
        );
      }
    }
    info.trueTokenId = expected.trueTokenId;
    info.falseTokenId = expected.falseTokenId;
    info.tokenSource = expected.source;
  }
  return info;
}

/**
 * options.modelFile must name a file inside the model folder once resolved against it: lexically,
 * so that the Hugging Face cache's links (snapshots/<rev>/model.onnx -> ../../blobs/...) still work.
 */
function checkInsideFolder(dir: string, modelFile: string): void {
  const folder = resolve(dir);
  const rel = relative(folder, resolve(folder, modelFile));
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
    throw new CrossrankError(
      'INVALID_ARGUMENT',
      `options.modelFile must name a file inside the model folder ${folder}, received ${describe(modelFile)}: ` +
        'to use an ONNX file kept elsewhere, make a folder that links to it',
    );
  }
}
