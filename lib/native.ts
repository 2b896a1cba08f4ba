// Loads the compiled addon (build/Release/crossrank.node) and types its surface.
// The one place that knows where the binary lives.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import type { ModelStats } from './cross-encoder.js';
import { CrossrankError } from './errors.js';

export interface NativeLoadOptions {
  modelPath: string;
  tokenizerPath: string;
  maxLength: number;
  truncateLeft: boolean;
  padToken?: string;
  padId: number;
  numLabels: number;
  intraOpThreads: number;
  interOpThreads: number;
  tokenizerThreads: number;
  /** Batches run at once; 0: the engine's default for the device. */
  concurrentRuns: number;
  optimizeGraph: boolean;
  allowSpinning?: boolean;
  /** ONNX Runtime log lines printed on stderr: 0 verbose, 1 info, 2 warning, 3 error, 4 none (fatal only). */
  logSeverity?: number;
  maxQueuedPairs: number;
  device: 'cpu' | 'cuda' | 'auto';
  deviceId: number;
  /** libonnxruntime_providers_cuda.so; empty when not installed. */
  cudaProviderPath: string;
}

export type NativeActivation = 'sigmoid' | 'identity' | 'softmax' | 'tanh';

export interface NativePredictOptions {
  batchSize: number;
  maxBatchTokens: number;
  activation: NativeActivation;
  /** Set element 0 to non-zero to cancel; read between batches. */
  cancel?: Int32Array;
}

export interface NativeInfo {
  numLabels: number;
  maxLength: number;
  padId: number;
  concurrentRuns: number;
  vocabSize: number;
  inputs: string[];
  output: string;
  outputType: 'float32' | 'float16';
  device: 'cpu' | 'cuda';
  deviceReason: string;
  providers: string[];
}

export interface NativeModel {
  /** `second` null: single texts. `first` of length 1 with `second`: one text shared by all pairs. */
  predict(first: string[], second: string[] | null, options: NativePredictOptions): Promise<Float32Array>;
  encode(first: string[], second: string[] | null): Promise<{ ids: Uint32Array[]; typeIds: Uint32Array[] }>;
  info(): NativeInfo;
  stats(): ModelStats;
  /** Queued calls reject with CLOSED at once; resolves when the batch in flight has finished. */
  close(): Promise<void>;
  readonly closed: boolean;
  /** Where inputs are staged; undefined once closed. Read live: it can fall back from 'pinned' to 'cpu'. */
  readonly inputMemory: 'cpu' | 'pinned' | undefined;
}

export interface NativeBinding {
  NativeModel: { load(options: NativeLoadOptions): Promise<NativeModel> };
  versions: { onnxruntime: string; ortApi: number; tokenizerAllocator: 'mimalloc' | 'system' };
}

let binding: NativeBinding | undefined;

/** Folder of the package: lib/ (sources, under vitest) and dist/ (built) both sit one level down. */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

export function addonPath(): string {
  return process.env.CROSSRANK_ADDON ?? join(packageRoot(), 'build', 'Release', 'crossrank.node');
}

/**
 * The CUDA plugin execution provider: CROSSRANK_CUDA_PROVIDER, else the optional npm dependency
 * com.github.asus4.onnxruntime.linux-x64-gpu; '' when neither is there.
 */
export function cudaProviderPath(): string {
  const fromEnv = process.env.CROSSRANK_CUDA_PROVIDER;
  if (fromEnv) return fromEnv;
  try {
    const pkg = createRequire(import.meta.url).resolve('com.github.asus4.onnxruntime.linux-x64-gpu/package.json');
    const path = join(dirname(pkg), 'Plugins', 'Linux', 'x64', 'libonnxruntime_providers_cuda.so');
    return existsSync(path) ? path : '';
  } catch {
    return '';
  }
}

export function native(): NativeBinding {
  if (binding) return binding;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new CrossrankError(
      'NATIVE_UNAVAILABLE',
      `the crossrank native addon is not built (looked for ${path}); run \`npm run build:native\``,
    );
  }
  try {
    binding = createRequire(import.meta.url)(path) as NativeBinding;
  } catch (error) {
    throw new CrossrankError('NATIVE_UNAVAILABLE', `cannot load the native addon ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return binding;
}
