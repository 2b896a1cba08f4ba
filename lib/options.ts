// The one table of numeric option ranges. TypeScript validates the public options against it, and
// the addon receives the same table once per environment (bindOptionTable) and guards its own
// entry points with it: the two sides cannot disagree on a range.
import type { NativeBinding } from './types.js';

/** An inclusive integer range. */
export interface IntRange {
  readonly min: number;
  readonly max: number;
}

/**
 * Integer options, by the name the addon reads (NativeModel.load and predict options). `option`
 * is the public name when it differs (`threads` is `intraOpThreads` natively); `internal` entries
 * are filled by crossrank from the model folder, never by the caller.
 *
 * Why these bounds: threads and devices beyond 1,024 are typos; 64 concurrent runs already exceed
 * any GPU's useful streams; maxLength up to 2^20 tokens (the position limit of the model is checked
 * separately); batchSize up to 65,536 rows; maxBatchTokens and maxQueuedPairs up to what the
 * scheduler's size_t arithmetic holds with no overflow (2^31 - 1 tokens, 2^53 - 1 pairs: a JS
 * number's exact integers).
 */
export const INT_OPTIONS = {
  deviceId: { min: 0, max: 1024 },
  intraOpThreads: { min: 0, max: 1024, option: 'threads' },
  interOpThreads: { min: 0, max: 1024, internal: true },
  tokenizerThreads: { min: 0, max: 1024 },
  // The public option starts at 1; the addon also takes 0, which means the device's default.
  concurrentRuns: { min: 1, max: 64, nativeMin: 0 },
  maxLength: { min: 1, max: 2 ** 20 },
  maxQueuedPairs: { min: 1, max: Number.MAX_SAFE_INTEGER },
  padId: { min: 0, max: Number.MAX_SAFE_INTEGER, internal: true },
  numLabels: { min: 0, max: 1_000_000, internal: true },
  // Causal-LM graphs with past_key_values inputs: the token columns scored (scoreFalseId unread when
  // scoreTrueOnly) and config.json's shapes where the graph leaves them symbolic (0: unknown).
  scoreTrueId: { min: 0, max: 2 ** 31 - 1, internal: true },
  scoreFalseId: { min: 0, max: 2 ** 31 - 1, internal: true },
  kvHeads: { min: 0, max: 1_000_000, internal: true },
  headDim: { min: 0, max: 1_000_000, internal: true },
  vocabSize: { min: 0, max: 2 ** 31 - 1, internal: true },
  // ONNX Runtime's OrtLoggingLevel: 0 verbose .. 4 fatal (the logLevel option names them).
  logSeverity: { min: 0, max: 4, internal: true },
  batchSize: { min: 1, max: 65536 },
  maxBatchTokens: { min: 1, max: 2 ** 31 - 1 },
  topK: { min: 0, max: Number.MAX_SAFE_INTEGER, jsOnly: true },
} as const satisfies Record<string, IntRange & { option?: string; internal?: boolean; nativeMin?: number; jsOnly?: boolean }>;

export type IntOption = keyof typeof INT_OPTIONS;

/** The range a public option is validated against. */
export function range(name: IntOption): IntRange {
  return INT_OPTIONS[name];
}

/** The table as the addon takes it: native name -> [min, max]. */
export function nativeOptionTable(): Record<string, [number, number]> {
  const table: Record<string, [number, number]> = {};
  for (const [name, spec] of Object.entries(INT_OPTIONS) as [string, IntRange & { nativeMin?: number; jsOnly?: boolean }][]) {
    if (spec.jsOnly) continue;
    table[name] = [spec.nativeMin ?? spec.min, spec.max];
  }
  return table;
}

const bound = new WeakSet<object>();

/** Hands the option table to this environment's addon once; returns the binding. */
export function bindOptionTable(binding: NativeBinding): NativeBinding {
  if (!bound.has(binding)) {
    binding.setOptionTable(nativeOptionTable());
    bound.add(binding);
  }
  return binding;
}
