// precision 'auto': which of a model folder's files to load, from crossrank convert's record
// (crossrank_convert.json), the model's shape, the device and this CPU. The rule and the
// measurements behind it: docs/int8.md "precision 'auto'" and bench/results/int8-pays.md.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { batchDependence } from '../model/onnx-graph.js';
import { type CpuFeatures, type FilePrecision, cpuFeatures } from './choose.js';
import { type HubModel, type ResolveOptions, resolveHubModel } from './resolve.js';
import type { HubRef } from './settings.js';

/**
 * LoadOptions.precision: a file's precision, or 'auto': the fastest file `crossrank convert`
 * checked for this device and CPU, else fp32 (the rule of {@link choosePrecision}, docs/int8.md
 * "precision 'auto'"). ModelInfo.precisionChoice says what was chosen and why.
 */
export type PrecisionOption = FilePrecision | 'auto';

/**
 * How the loaded file's precision was decided (ModelInfo.precisionChoice). Set whenever the
 * precision option chose the file; absent when LoadOptions.modelFile named it.
 */
export interface PrecisionChoice {
  /** What LoadOptions.precision asked for ('fp32' when it was not given: the default). */
  requested: PrecisionOption;
  /** The precision of the file loaded. */
  chosen: FilePrecision;
  /** Why, in words: for 'auto', the condition that decided (see docs/int8.md). */
  reason: string;
}

/**
 * convert's bounds at their defaults (lib/python/convert.py BOUNDS; test/precision.test.ts checks
 * that the two agree). A record counts for 'auto' only when it passed bounds at least this strict.
 * For each figure: the least value allowed ('min'), or the most ('max').
 */
export const DEFAULT_BOUNDS = {
  int8: { spearman_min: { min: 0.99 }, top10_min: { min: 0.9 }, batch_dependence: { max: 1e-5 } },
  fp16: { spearman: { min: 0.999 }, top10_overlap: { min: 0.99 } },
} as const;

/**
 * fp32's bound in lib/python/convert.py BOUNDS: max |logit diff| to PyTorch. The fused fp32 file
 * (model_optimized.onnx) is loaded for fp32 only when convert measured it within this bound too
 * (convert lets it pass at 1e-3, in case the optimizer approximated something).
 */
export const FP32_MAX_ABS_DIFF = 1e-4;

/** convert's default parity set: 16 queries x 32 passages (`--queries`, `--docs`). A smaller one is a weaker gate. */
export const DEFAULT_PARITY_PAIRS = 16 * 32;

/**
 * convert's default random-vocabulary lists for int8: 8 lists x 100 passages (`--vocab-lists`,
 * `--vocab-docs`; convert.py vocab_lists). convert's pydoc lists alone passed int8 files that lists
 * of near-tied candidates refuse (bench/results/int8-gate-lists.md), so an int8 record made without
 * them, or with fewer, is not chosen by 'auto'.
 */
export const DEFAULT_INT8_VOCAB_PAIRS = 8 * 100;

/**
 * The model shapes where int8 was measured to pay on a CPU with int8 dot-product instructions
 * (bench/results/int8-pays.md: crossrank int8 against crossrank fp32, interleaved in one run):
 * config.json `hidden_size` at least minHiddenSize and `num_hidden_layers` at least minLayers.
 */
export const INT8_PAYS: {
  /** The least config.json `hidden_size` (384: the MiniLM shapes gained; TinyBERT's 128 lost). */
  readonly minHiddenSize: number;
  /** The least config.json `num_hidden_layers` (2: the shallowest shape measured). */
  readonly minLayers: number;
} = { minHiddenSize: 384, minLayers: 2 };

/** A model's shape from config.json, as the int8 measurements are keyed. */
export interface ModelShape {
  /** config.json `hidden_size`; undefined when absent. */
  hiddenSize: number | undefined;
  /** config.json `num_hidden_layers`; undefined when absent. */
  layers: number | undefined;
}

/** What choosePrecision decides from: everything is passed in, so the rule is testable alone. */
export interface PrecisionInputs {
  /** The folder's files (paths relative to it, with '/'), as chooseModelFile takes them. */
  files: readonly string[];
  /** The parsed crossrank_convert.json, or undefined when the folder has none. */
  record: unknown;
  /** config.json's hidden_size and num_hidden_layers (undefined when absent). */
  shape: ModelShape;
  /**
   * The device the session will run on. 'auto' (LoadOptions.device 'auto' with a CUDA provider
   * installed) is decided only when the session starts, after the file is chosen: fp32 then.
   */
  device: 'cpu' | 'cuda' | 'auto';
  /** This CPU's instruction sets (cpuFeatures()). */
  cpu: CpuFeatures;
  /**
   * Whether the int8 file's graph quantizes activations per batch (lib/model/onnx-graph.ts
   * batchDependence); undefined when not read (then only the record's measured figure counts).
   */
  int8BatchDependent?: boolean | undefined;
}

/** choosePrecision's answer: the precision, the file (relative to the folder), and why. */
export interface PrecisionDecision {
  /** The precision to load. */
  chosen: FilePrecision;
  /** The file to load for 'int8' and 'fp16' (the file convert's record names), and for fp32 the fused file (fusedFp32File in lib/hub/precision.ts) when convert vouched for it; undefined for the usual fp32 choice. */
  file: string | undefined;
  /** Why, in words: the condition that decided (ModelInfo.precisionChoice.reason). */
  reason: string;
}

type Output = { passed?: unknown; file?: unknown; bounds?: unknown; [figure: string]: unknown };

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Why convert's record for `variant` does not vouch for its file at the default bounds, or
 * undefined when it does: the record says it passed, the file it names is in the folder, its
 * bounds were at least as strict as the defaults and its figures meet them, on at least the
 * default parity set (and, for int8, at least the default random-vocabulary lists).
 */
export function recordRefusal(record: unknown, variant: 'int8' | 'fp16', files: readonly string[]): string | undefined {
  if (!isObject(record)) return 'the folder has no crossrank_convert.json (only files `crossrank convert` checked are chosen)';
  const outputs = isObject(record.outputs) ? record.outputs : {};
  const out = outputs[variant] as Output | undefined;
  if (!isObject(out)) return `crossrank_convert.json has no ${variant} output`;
  if (out.passed !== true) return `crossrank convert refused the ${variant} file`;
  if (typeof out.file !== 'string' || !files.includes(out.file)) return `the ${variant} file crossrank_convert.json names is not in the folder`;
  const bounds = isObject(out.bounds) ? out.bounds : {};
  for (const [figure, limit] of Object.entries(DEFAULT_BOUNDS[variant])) {
    const bound = bounds[figure];
    const value = out[figure];
    const atLeast = 'min' in limit;
    const strict = typeof bound === 'number' && (atLeast ? bound >= limit.min : bound <= limit.max);
    if (!strict) {
      return `its ${variant} file passed relaxed bounds (${figure} ${typeof bound === 'number' ? bound : 'not checked'} instead of ${atLeast ? limit.min : limit.max}: \`crossrank convert --bounds\`)`;
    }
    const meets = typeof value === 'number' && (atLeast ? value >= limit.min : value <= limit.max);
    if (!meets) return `its ${variant} figure ${figure} (${String(value)}) misses the default bound ${atLeast ? limit.min : limit.max}`;
  }
  const pairs = record.parity_pairs;
  if (typeof pairs !== 'number' || pairs < DEFAULT_PARITY_PAIRS) {
    return `its ${variant} check ran on ${typeof pairs === 'number' ? pairs : 'an unknown number of'} parity pairs, fewer than convert's default ${DEFAULT_PARITY_PAIRS}`;
  }
  const vocab = record.int8_vocab_pairs;
  if (variant === 'int8' && (typeof vocab !== 'number' || vocab < DEFAULT_INT8_VOCAB_PAIRS)) {
    return typeof vocab === 'number'
      ? `its int8 check ran on ${vocab} random-vocabulary pairs, fewer than convert's default ${DEFAULT_INT8_VOCAB_PAIRS}`
      : 'its int8 check predates random-vocabulary lists (convert the model again: the pydoc lists alone passed int8 files that lists of near-tied candidates refuse)';
  }
  return undefined;
}

/**
 * The fused fp32 file `crossrank convert` wrote and checked, when its record vouches for it at
 * fp32's bound; else undefined. It holds the fp32 file's weights with attention, LayerNorm and
 * GELU fused by onnxruntime.transformers' optimizer, which ONNX Runtime's session optimizer does
 * not do on its own (docs/int8.md): 1.09-1.22x model.onnx through crossrank on the trained MiniLM-L6
 * (bench/results/fused-fp32.md). Vouched: convert's `optimized` output passed, its file is in
 * the folder, and its max |diff| to PyTorch is at most {@link FP32_MAX_ABS_DIFF}.
 */
export function fusedFp32File(record: unknown, files: readonly string[]): string | undefined {
  if (!isObject(record) || !isObject(record.outputs)) return undefined;
  const out = record.outputs.optimized;
  if (!isObject(out) || out.passed !== true || typeof out.file !== 'string' || !files.includes(out.file)) return undefined;
  const diff = out.max_abs_diff;
  return typeof diff === 'number' && diff <= FP32_MAX_ABS_DIFF ? out.file : undefined;
}

/** The fp32 decision: the fused file when convert's record vouches for it, else the usual fp32 choice (file undefined). */
function fp32Decision(record: unknown, files: readonly string[], why: string): PrecisionDecision {
  const fused = fusedFp32File(record, files);
  if (fused === undefined) return { chosen: 'fp32', file: undefined, reason: `fp32: ${why}` };
  return { chosen: 'fp32', file: fused, reason: `fp32: ${why}; ${fusedReason(fused)}` };
}

/** Why the fused fp32 file was loaded, in words (part of ModelInfo.precisionChoice.reason). */
export function fusedReason(file: string): string {
  return `${file}, the fp32 graph with attention and LayerNorm fused, which crossrank convert checked within ${FP32_MAX_ABS_DIFF.toExponential()} of PyTorch`;
}

/** The int8 dot-product instructions ONNX Runtime's integer MatMul kernels use on this CPU, or undefined when it has none that was measured to pay. */
function int8Instructions(cpu: CpuFeatures): string | undefined {
  if (cpu.arm64) return undefined;
  if (cpu.avx512vnni) return 'AVX-512 VNNI';
  if (cpu.avxvnni) return 'AVX-VNNI';
  return undefined;
}

/**
 * precision 'auto' (docs/int8.md "precision 'auto'"): the fastest file `crossrank convert` checked
 * for this device and CPU, else fp32. Never a file convert did not check (the hub's
 * model_qint8_*.onnx, model_O4.onnx, transformers.js' model_quantized.onnx).
 *
 * - device 'cuda': fp16 when convert's record says its fp16 file passed at the default bounds.
 * - device 'auto' (the session picks CUDA or CPU only when it starts): fp32, right on both.
 * - device 'cpu': int8 only when (a) convert's record says its int8 file passed at the default
 *   bounds (not relaxed with --bounds, on the default parity set), (b) the file is batch-independent
 *   (its measured figure, and no dynamic quantization in its graph), (c) this CPU is x86 with
 *   AVX-512 VNNI or AVX-VNNI (ONNX Runtime's integer kernels for them; arm64 is not measured, so
 *   fp32), and (d) the model's shape is one where int8 was measured to pay ({@link INT8_PAYS}).
 *
 * The reason names the first condition that failed, or every one that held.
 */
export function choosePrecision(inputs: PrecisionInputs): PrecisionDecision {
  const { files, record, shape, device, cpu } = inputs;
  const fp32 = (why: string): PrecisionDecision => fp32Decision(record, files, why);
  if (device === 'auto') {
    return fp32("device 'auto' picks CUDA or the CPU only when the session starts, and fp32 runs right on both; pass device 'cpu' or 'cuda' to let precision 'auto' pick int8 or fp16");
  }
  if (device === 'cuda') {
    const refusal = recordRefusal(record, 'fp16', files);
    if (refusal !== undefined) return fp32(`no fp16 file checked by crossrank convert: ${refusal}`);
    const out = (record as { outputs: Record<string, Output> }).outputs.fp16!;
    return { chosen: 'fp16', file: out.file as string, reason: `fp16 on CUDA: crossrank convert checked ${String(out.file)} at the default bounds` };
  }
  if (isObject(record) && typeof record.kind === 'string' && record.kind !== 'cross-encoder') {
    return fp32(`an LLM reranker (${record.kind}): int8 on a CPU was measured only for encoder cross-encoders`);
  }
  const refusal = recordRefusal(record, 'int8', files);
  if (refusal !== undefined) return fp32(`no int8 file checked by crossrank convert at the default bounds: ${refusal}`);
  const file = (record as { outputs: Record<string, Output> }).outputs.int8!.file as string;
  if (inputs.int8BatchDependent === true) {
    return fp32(`${file} quantizes activations per batch (a pair's score would move with its batch)`);
  }
  const instructions = int8Instructions(cpu);
  if (instructions === undefined) {
    return fp32(
      cpu.arm64
        ? 'int8 was not measured on arm64 CPUs (pass precision \'int8\' after measuring: docs/int8.md)'
        : 'this CPU has neither AVX-512 VNNI nor AVX-VNNI, without which int8 products do not pay',
    );
  }
  const { hiddenSize, layers } = shape;
  if (hiddenSize === undefined || layers === undefined) {
    return fp32('config.json gives no hidden_size or num_hidden_layers, so the model shape cannot be matched to the measurements');
  }
  if (hiddenSize < INT8_PAYS.minHiddenSize || layers < INT8_PAYS.minLayers) {
    return fp32(
      `int8 was measured not to pay for this shape (hidden size ${hiddenSize}, ${layers} layers; it pays from hidden size ${INT8_PAYS.minHiddenSize} and ${INT8_PAYS.minLayers} layers)`,
    );
  }
  return {
    chosen: 'int8',
    file,
    reason:
      `int8: crossrank convert checked ${file} at the default bounds, it is batch-independent, this CPU has ${instructions}, ` +
      `and int8 was measured to pay for hidden size ${hiddenSize} with ${layers} layers`,
  };
}

/** crossrank convert's record file in a converted folder. */
export const CONVERT_RECORD = 'crossrank_convert.json';

/** config.json's shape fields for {@link PrecisionInputs.shape}. */
export function modelShape(config: unknown): ModelShape {
  const c = isObject(config) ? config : {};
  const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined);
  return { hiddenSize: int(c.hidden_size), layers: int(c.num_hidden_layers) };
}

/**
 * Reads what choosePrecision needs from a model folder (crossrank_convert.json, config.json; and,
 * with readGraph, the int8 file's graph when the rest would let int8 through) and decides. `files`
 * are the folder's files relative to it (for a hub id: the repo's, of which the side files are in
 * `dir`). Unreadable JSON counts as absent: 'auto' then keeps fp32.
 */
export async function decideFolderPrecision(
  dir: string,
  files: readonly string[],
  device: 'cpu' | 'cuda' | 'auto',
  options: { readGraph?: boolean; cpu?: CpuFeatures } = {},
): Promise<PrecisionDecision> {
  const json = async (name: string): Promise<unknown> => {
    if (!files.includes(name)) return undefined;
    try {
      return JSON.parse(await readFile(join(dir, name), 'utf8'));
    } catch {
      return undefined;
    }
  };
  const cpu = options.cpu ?? cpuFeatures();
  const inputs: PrecisionInputs = { files, record: await json(CONVERT_RECORD), shape: modelShape(await json('config.json')), device, cpu };
  const first = choosePrecision(inputs);
  if (first.chosen !== 'int8' || first.file === undefined || options.readGraph === false) return first;
  return choosePrecision({ ...inputs, int8BatchDependent: (await batchDependence(join(dir, first.file))).batchDependent });
}

/**
 * The PrecisionChoice of an explicit precision (or of the default, fp32, when none was given).
 * `fused`: the fp32 file was the fused one convert vouched for ({@link fusedFp32File}).
 */
export function explicitChoice(precision: FilePrecision | undefined, file: string, fused = false): PrecisionChoice {
  const which = fused ? fusedReason(file) : file;
  if (precision === undefined) {
    return { requested: 'fp32', chosen: 'fp32', reason: `fp32: the default precision (${which})` };
  }
  return { requested: precision, chosen: precision, reason: `${precision}: asked for (${which})` };
}

/**
 * For fp32 (precision 'fp32' or not given) from a local folder: the fused file `crossrank convert`
 * vouched for ({@link fusedFp32File}), read from the folder's crossrank_convert.json; undefined
 * when it has none (then the usual fp32 choice: lib/hub/choose.ts). Unreadable JSON counts as absent.
 */
export async function folderFusedFp32(dir: string, files: readonly string[]): Promise<string | undefined> {
  if (!files.includes(CONVERT_RECORD)) return undefined;
  try {
    return fusedFp32File(JSON.parse(await readFile(join(dir, CONVERT_RECORD), 'utf8')), files);
  } catch {
    return undefined;
  }
}

/**
 * The device precision 'auto' decides for: LoadOptions.device, except that 'auto' without a CUDA
 * provider installed can only run on the CPU (`hasCudaProvider`: lib/native.ts cudaProviderPath()).
 */
export function autoDevice(device: 'cpu' | 'cuda' | 'auto', hasCudaProvider: boolean): 'cpu' | 'cuda' | 'auto' {
  return device === 'auto' && !hasCudaProvider ? 'cpu' : device;
}

/**
 * A hub id with precision 'auto': resolves the fp32 file and the side files first (which bring
 * crossrank_convert.json when the repo has one), decides with {@link decideFolderPrecision}, and
 * when that picks another file, downloads it and checks its graph before keeping it. The hub's
 * own published variants (no convert record) therefore always give fp32.
 */
export async function resolveHubAuto(
  ref: HubRef,
  device: 'cpu' | 'cuda' | 'auto',
  options: Omit<ResolveOptions, 'precision' | 'modelFile'>,
): Promise<{ hub: HubModel; choice: PrecisionChoice }> {
  const fp32 = await resolveHubModel(ref, { ...options, precision: 'fp32' });
  const first = await decideFolderPrecision(fp32.dir, fp32.files, device, { readGraph: false });
  const choice = (d: PrecisionDecision): PrecisionChoice => ({ requested: 'auto', chosen: d.chosen, reason: d.reason });
  if (first.file === undefined) return { hub: fp32, choice: choice(first) };
  const other = await resolveHubModel(ref, { ...options, modelFile: first.file });
  const checked = await decideFolderPrecision(other.dir, other.files, device);
  return checked.file === undefined ? { hub: fp32, choice: choice(checked) } : { hub: other, choice: choice(checked) };
}
