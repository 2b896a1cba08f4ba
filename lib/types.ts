// The types of the addon's surface and of what it reports, shared by the loader (native.ts), the
// option table (options.ts) and the CrossEncoder (cross-encoder.ts). This file imports nothing, so
// none of those modules has to import another just for a type.

/** Counters since load (CrossEncoder.stats()), for tuning batch settings and for benchmarks. */
export interface ModelStats {
  /** Pairs the model has scored. */
  pairs: number;
  /** Model runs. */
  batches: number;
  /** Real tokens in the scored pairs. */
  tokens: number;
  /** Positions the model computed: each batch's rows times its longest row. tokens / paddedTokens is the share not spent on padding. */
  paddedTokens: number;
  /** Windows of tokenized pairs, each sorted by length and cut into batches. */
  windows: number;
  /** Windows the model, free after the previous window, had to wait for: tokenization was behind inference. */
  earlyWindows: number;
}

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
  /**
   * LLM rerankers: single texts are rendered prompts, tokenized without special tokens; when one
   * reaches maxLength, chatSuffix is written over its last ids (sentence-transformers' suffix restore).
   */
  chat?: boolean;
  chatSuffix?: Uint32Array;
  /**
   * LLM rerankers: 'causal-lm-with-past' accepts (and then requires) a causal-LM graph with
   * past_key_values inputs and [batch, sequence, vocab] logits, scored as scoreTrueId's logit minus
   * scoreFalseId's (scoreTrueOnly: the true one alone) at each row's last real position;
   * 'decoder-classifier': a [batch, labels] graph that may take position_ids (a decoder's seq-cls
   * export); default 'classifier'.
   */
  graph?: 'classifier' | 'causal-lm-with-past' | 'decoder-classifier';
  scoreTrueId?: number;
  scoreFalseId?: number;
  scoreTrueOnly?: boolean;
  /** config.json's KV heads, head size and vocabulary, for a causal-LM graph that leaves them symbolic (0: unknown). */
  kvHeads?: number;
  headDim?: number;
  vocabSize?: number;
}

export type NativeActivation = 'sigmoid' | 'identity' | 'softmax' | 'tanh';

export interface NativePredictOptions {
  batchSize: number;
  maxBatchTokens: number;
  activation: NativeActivation;
  /** Set element 0 to non-zero to cancel; read between batches. */
  cancel?: Int32Array;
  /** LLM rerankers: the chat-template suffix for this call's prompts, when not the loaded one. */
  chatSuffix?: Uint32Array;
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
  /** What the graph computes: 'classifier' ([batch, labels]) or 'causal-lm-with-past' ([batch, seq, vocab]). */
  graph: 'classifier' | 'causal-lm-with-past';
  device: 'cpu' | 'cuda';
  deviceReason: string;
  providers: string[];
}

export interface NativeModel {
  /** `second` null: single texts. `first` of length 1 with `second`: one text shared by all pairs. */
  predict(first: string[], second: string[] | null, options: NativePredictOptions): Promise<Float32Array>;
  encode(first: string[], second: string[] | null): Promise<{ ids: Uint32Array[]; typeIds: Uint32Array[] }>;
  /**
   * UTF-8 byte offsets of each text's tokens encoded alone (no special tokens, no truncation):
   * [start0, end0, start1, end1, ...]. For rerank's chunking; absent in addons built before it.
   */
  tokenOffsets?(texts: string[]): Promise<Uint32Array[]>;
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
  /** Gives this environment's addon the integer option ranges (lib/options.ts), native name -> [min, max]. */
  setOptionTable(table: Record<string, [number, number]>): void;
}
