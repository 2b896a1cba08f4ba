// The one place that knows how a model family bounds its input length and which activation a
// folder declares. Every rule here is borrowed from sentence-transformers 6.2 / transformers 5.24,
// with its source named, so that crossrank reads a folder as CrossEncoder(folder) does.
import { CrossrankError } from '../errors.js';

/**
 * The function applied to a model's logits to make scores, as sentence-transformers' CrossEncoder
 * names them (torch.nn.Sigmoid, Identity, Softmax over the labels, Tanh).
 */
export type Activation = 'sigmoid' | 'identity' | 'softmax' | 'tanh';

/** How a family turns token positions into embeddings, which decides its length limit. */
export type PositionKind =
  /** A learned table of max_position_embeddings rows, position ids 0.. (BERT, ELECTRA, DistilBERT, ALBERT). */
  | 'absolute'
  /**
   * A learned table whose ids start after the padding index: ids run pad+1 .. so the table
   * holds max_position_embeddings - (pad + 1) tokens (transformers' create_position_ids_from_input_ids).
   */
  | 'absolute-offset'
  /** Relative attention only (DeBERTa-v2/v3 with position_biased_input false): no table bounds the length. */
  | 'relative'
  /** Rotary positions (ModernBERT): trained up to max_position_embeddings, which is the limit. */
  | 'rotary';

export interface FamilyRule {
  positions: PositionKind;
  /**
   * absolute-offset only: the padding index the offset is taken from. 'config' reads
   * config.json's pad_token_id (RoBERTa, XLM-R, CamemBERT, Longformer); a number is fixed in the
   * modelling code (MPNet: `self.padding_idx = 1` in modeling_mpnet.py, whatever the config says).
   */
  paddingIdx?: 'config' | number;
  /** Where the rule comes from. */
  source: string;
}

/**
 * Families crossrank runs, by config.json model_type. A model_type not listed is read as
 * 'absolute' (the common case; a longer input then fails inside ONNX Runtime with a coded error).
 */
export const FAMILY_RULES: Readonly<Record<string, FamilyRule>> = {
  bert: { positions: 'absolute', source: 'transformers BertEmbeddings: position_ids = arange(max_position_embeddings)' },
  electra: { positions: 'absolute', source: 'transformers ElectraEmbeddings (as BERT)' },
  distilbert: { positions: 'absolute', source: 'transformers DistilBERT Embeddings (as BERT, no token types)' },
  albert: { positions: 'absolute', source: 'transformers AlbertEmbeddings (as BERT)' },
  roberta: { positions: 'absolute-offset', paddingIdx: 'config', source: 'transformers RobertaEmbeddings.padding_idx = config.pad_token_id' },
  'xlm-roberta': { positions: 'absolute-offset', paddingIdx: 'config', source: 'transformers XLMRobertaEmbeddings (as RoBERTa)' },
  'xlm-roberta-xl': { positions: 'absolute-offset', paddingIdx: 'config', source: 'transformers XLMRobertaXLEmbeddings (as RoBERTa)' },
  camembert: { positions: 'absolute-offset', paddingIdx: 'config', source: 'transformers CamembertEmbeddings (as RoBERTa)' },
  longformer: { positions: 'absolute-offset', paddingIdx: 'config', source: 'transformers LongformerEmbeddings (as RoBERTa)' },
  mpnet: { positions: 'absolute-offset', paddingIdx: 1, source: 'transformers MPNetEmbeddings: self.padding_idx = 1' },
  'deberta-v2': { positions: 'relative', source: 'transformers DebertaV2Embeddings: a position table only when position_biased_input' },
  deberta: { positions: 'relative', source: 'transformers DebertaEmbeddings: a position table only when position_biased_input' },
  modernbert: { positions: 'rotary', source: 'transformers ModernBertRotaryEmbedding; trained to max_position_embeddings (8,192)' },
};

/** transformers' VERY_LARGE_INTEGER (int(1e30)), written when a tokenizer has no limit of its own. */
const NO_TOKENIZER_LIMIT = 1e15;
/** What crossrank truncates to when nothing in the folder bounds the length (BERT's 512). */
export const FALLBACK_MAX_LENGTH = 512;

function positiveInt(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}

export interface LengthLimits {
  /** The most tokens the model's position embeddings can address; Infinity when none bound it. */
  positionLimit: number;
  /** What CrossEncoder(folder) truncates to by default, never above positionLimit. */
  defaultMaxLength: number;
}

/**
 * Length limits of a folder, from config.json and tokenizer_config.json.
 *
 * positionLimit (what `maxLength` may be): by FAMILY_RULES. 'absolute' and 'rotary':
 * max_position_embeddings; 'absolute-offset': max_position_embeddings - (padding index + 1);
 * 'relative': Infinity (DeBERTa-v2/v3 with `position_biased_input: false` have no position table:
 * sentence-transformers scores 1,024 tokens with them); DeBERTa with `position_biased_input` true
 * is 'absolute'.
 *
 * defaultMaxLength: sentence-transformers 6.2 base/modules/transformer.py Transformer.__init__
 * sets `tokenizer.model_max_length = min(tokenizer.model_max_length, config.max_position_embeddings)`
 * (unless max_position_embeddings is -1), and CrossEncoder truncates to it. transformers writes
 * VERY_LARGE_INTEGER (1e30) when tokenizer_config.json has no model_max_length, so a folder without
 * one gets max_position_embeddings (ModernBERT: 8,192). crossrank takes the same minimum, then caps
 * it at positionLimit (sentence-transformers would hand an offset family 514 positions and fail in
 * PyTorch; crossrank gives 512). With neither value present: 512.
 */
export function lengthLimits(config: Record<string, unknown>, tokenizerConfig: Record<string, unknown>): LengthLimits {
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const rule = FAMILY_RULES[modelType];
  let kind: PositionKind = rule?.positions ?? 'absolute';
  if (kind === 'relative' && config.position_biased_input !== false) kind = 'absolute';
  const positions = positiveInt(config.max_position_embeddings);

  let positionLimit = Infinity;
  if (kind !== 'relative' && positions !== undefined) {
    let offset = 0;
    if (kind === 'absolute-offset') {
      const pad = rule?.paddingIdx === 'config' || rule?.paddingIdx === undefined ? config.pad_token_id : rule.paddingIdx;
      offset = (typeof pad === 'number' && Number.isInteger(pad) && pad >= 0 ? pad : 1) + 1;
    }
    positionLimit = Math.max(1, positions - offset);
  }

  const raw = positiveInt(tokenizerConfig.model_max_length);
  const tokenizerLimit = raw !== undefined && raw < NO_TOKENIZER_LIMIT ? raw : Infinity;
  let defaultMaxLength = Math.min(tokenizerLimit, positions ?? Infinity, positionLimit);
  if (!Number.isFinite(defaultMaxLength)) defaultMaxLength = Math.min(FALLBACK_MAX_LENGTH, positionLimit);
  return { positionLimit, defaultMaxLength };
}

// Activation class names sentence-transformers writes (e.g. "torch.nn.modules.activation.Sigmoid").
// A Map: a name from the file such as "constructor" or "__proto__" must find nothing, not an
// Object.prototype member.
const ACTIVATIONS: ReadonlyMap<string, Activation> = new Map([
  ['Sigmoid', 'sigmoid'],
  ['Identity', 'identity'],
  ['Softmax', 'softmax'],
  ['Tanh', 'tanh'],
]);

/**
 * An activation path as sentence-transformers saves it. Like CrossEncoder._resolve_activation_fn,
 * a path outside `torch.` is not trusted (undefined: the next source is read); a torch class
 * crossrank does not implement is an error the caller can avoid with the activation option.
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

/**
 * The activation a folder declares, in sentence-transformers 6.2's order
 * (cross_encoder/model.py):
 *  1. config_sentence_transformers.json `activation_fn`, read by CrossEncoder._parse_model_config,
 *     which base/model.py calls from _load_config_modules, i.e. only when modules.json exists;
 *  2. config.json `sentence_transformers.activation_fn` (get_default_activation_fn); when that key
 *     is present the legacy one below is not read, even if its value is untrusted;
 *  3. config.json `sbert_ce_default_activation_function` (sentence-transformers < 4);
 *  4. undefined: the caller applies sigmoid for one label, identity otherwise.
 */
export function folderActivation(
  config: Record<string, unknown>,
  stConfig: Record<string, unknown> | undefined,
  hasModulesJson: boolean,
): Activation | CrossrankError | undefined {
  if (hasModulesJson && stConfig) {
    const first = parseActivation(stConfig.activation_fn, 'config_sentence_transformers.json activation_fn');
    if (first !== undefined) return first;
  }
  const section = config.sentence_transformers;
  if (section && typeof section === 'object' && 'activation_fn' in section) {
    return parseActivation((section as Record<string, unknown>).activation_fn, 'config.json sentence_transformers.activation_fn');
  }
  return parseActivation(config.sbert_ce_default_activation_function, 'config.json sbert_ce_default_activation_function');
}

/**
 * What a folder's config.json makes of it, as sentence-transformers 6.2 reads it
 * (cross_encoder/model.py CrossEncoder._load_default_modules):
 *  - 'cross-encoder': an encoder family of FAMILY_RULES with a `*ForSequenceClassification` head;
 *  - 'causal-lm': `architectures[0]` ends in `ForCausalLM`: sentence-transformers loads it as a
 *    Transformer with transformer_task "text-generation" plus a LogitScore module (an LLM reranker);
 *  - 'sequence-classification': a decoder family's `*ForSequenceClassification` (e.g. the Qwen3
 *    seq-cls conversions), which pools the last real token.
 */
export type ModelKind = 'cross-encoder' | 'causal-lm' | 'sequence-classification';

/** Decoder language-model families (config.json model_type) whose rerankers crossrank knows. */
export const DECODER_FAMILIES: ReadonlySet<string> = new Set(['qwen2', 'qwen3', 'gemma', 'llama']);

/**
 * Decoder kinds crossrank can score as sentence-transformers does. A kind not listed is refused
 * with UNSUPPORTED_MODEL: better no score than a wrong one (issue 23: a causal LM loaded as a
 * one-label cross-encoder gave scores unrelated to sentence-transformers').
 */
export const SUPPORTED_DECODER_KINDS: ReadonlySet<ModelKind> = new Set<ModelKind>(['causal-lm', 'sequence-classification']);

function unsupported(message: string): CrossrankError {
  return new CrossrankError('UNSUPPORTED_MODEL', `${message}; crossrank refuses models it cannot score as sentence-transformers 6.2 does (docs/models.md)`);
}

/**
 * The kind of a folder from its config.json, or UNSUPPORTED_MODEL when crossrank cannot score it as
 * sentence-transformers 6.2 does:
 *  - any `*ForCausalLM` outside DECODER_FAMILIES (or of a kind not yet supported);
 *  - a decoder family with any other head (a base `*Model`: sentence-transformers would add an
 *    untrained classification head);
 *  - a model_type outside FAMILY_RULES and DECODER_FAMILIES (e.g. t5, bart, mistral): an unknown
 *    family, whose length and input rules crossrank does not know;
 *  - a known encoder family whose architecture is not `*ForSequenceClassification` (e.g. BertModel,
 *    BertForMaskedLM): sentence-transformers loads it with a randomly initialised head.
 * A config.json without model_type or architectures says nothing to refuse and is read as a
 * cross-encoder (crossrank's own ONNX-only folders).
 */
export function modelKind(config: Record<string, unknown>): ModelKind | CrossrankError {
  const modelType = typeof config.model_type === 'string' ? config.model_type : undefined;
  const architectures = Array.isArray(config.architectures) ? config.architectures : [];
  const architecture = typeof architectures[0] === 'string' ? (architectures[0] as string) : undefined;
  const what = `config.json: model_type ${JSON.stringify(modelType ?? null)}, architecture ${JSON.stringify(architecture ?? null)}`;
  let kind: ModelKind;
  if (architecture?.endsWith('ForCausalLM')) {
    if (modelType === undefined || !DECODER_FAMILIES.has(modelType)) {
      return unsupported(`${what}: a causal language model of a family crossrank does not run as a reranker (known: ${[...DECODER_FAMILIES].join(', ')})`);
    }
    kind = 'causal-lm';
  } else if (modelType !== undefined && DECODER_FAMILIES.has(modelType)) {
    if (architecture !== undefined && !architecture.endsWith('ForSequenceClassification')) {
      return unsupported(`${what}: a decoder model is scored either as a *ForCausalLM reranker or as a *ForSequenceClassification one`);
    }
    kind = 'sequence-classification';
  } else {
    if (modelType !== undefined && !(modelType in FAMILY_RULES)) {
      return unsupported(
        `${what}: an architecture family crossrank does not know (encoders: ${Object.keys(FAMILY_RULES).join(', ')}; ` +
          `decoder rerankers: ${[...DECODER_FAMILIES].join(', ')})`,
      );
    }
    if (architecture !== undefined && !architecture.endsWith('ForSequenceClassification')) {
      return unsupported(`${what}: not a cross-encoder (sentence-transformers would put an untrained classification head on it)`);
    }
    return 'cross-encoder';
  }
  if (!SUPPORTED_DECODER_KINDS.has(kind)) {
    return unsupported(`${what}: a decoder ${kind === 'causal-lm' ? 'causal-LM' : 'sequence-classification'} reranker, not supported yet`);
  }
  return kind;
}
