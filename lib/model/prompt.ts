// LLM rerankers (issue 23): how a (query, document) pair becomes the prompt a decoder scores, read
// as sentence-transformers 6.2 reads it. The rules, with their sources in the pinned package:
//
//  - A pair becomes messages with the roles 'query' and 'document'; a prompt (crossrank's
//    `instruction`) becomes a 'system' message before them (base/modality.py InputFormatter
//    pair_to_messages, prepend_prompt_to_messages). The content is the text itself ('flat') or
//    [{type: 'text', text}] ('structured'): sentence_bert_config.json's modality_config.message.format
//    when saved, else InputFormatter._infer_format (a template naming content parts is structured).
//  - The folder's chat template renders them (chat_template.jinja, else tokenizer_config.json's
//    chat_template), with the tokenizer's special tokens as variables and add_generation_prompt
//    false, as transformers' apply_chat_template does. The render is tokenized without special
//    tokens (apply_chat_template passes add_special_tokens=False) and truncated to the max length.
//  - A template that drops the query or the document is refused (Transformer._verify_pair_roles_supported,
//    probed by rendering, as InputFormatter.pair_roles_failure does).
//  - Truncation cuts the end of the prompt, where the template's tail (e.g. "<|im_end|>\n<|im_start|>assistant\n")
//    sits; sentence-transformers then writes that tail back over the last tokens of every row that
//    reached the max length (Transformer._restore_chat_template_suffix). The tail is found by
//    rendering the conversation twice with its non-system contents replaced by "0" and "1 2 3 4"
//    and keeping the longest common token suffix, trusted only when the renders diverge
//    (Transformer._chat_template_suffix_ids). The system message is kept, so an instruction the
//    template renders in its tail (bge-reranker-v2-gemma) changes the suffix.
//  - The default instruction is config_sentence_transformers.json's prompts[default_prompt_name],
//    read only when modules.json exists (base/model.py _load_config_modules, _parse_model_config).
//    An empty instruction means none (preprocess only adds a prompt when it is non-empty).
import { join } from 'node:path';

import { Template } from '@huggingface/jinja';

import { CrossrankError } from '../errors.js';
import { MAX_JSON_BYTES, readModelFile } from './files.js';

/** Message roles sentence-transformers maps a pair to (base/modality.py PAIR_ROLES). */
const PAIR_ROLES = ['query', 'document'] as const;
/** base/modality.py PAIR_ROLE_PROBES: a baseline pair, then one varying each role. */
const PAIR_ROLE_PROBES: readonly [string, string][] = [['alpha', 'bravo'], ['charlie', 'bravo'], ['alpha', 'foxtrot']];
/** base/modality.py InputFormatter._infer_format: patterns of a structured-content template. */
const STRUCTURED_PATTERNS = ['content[0]', '.type', "'type'", '"type"', 'item.type', 'message.content['];
/** transformers' SPECIAL_TOKENS_ATTRIBUTES, passed to the template by apply_chat_template. */
const SPECIAL_TOKENS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

export type MessageFormat = 'flat' | 'structured';

interface Message {
  role: string;
  content: string | { type: 'text'; text: string }[];
}

/** The folder's chat template, ready to render pairs. */
export class ChatPrompt {
  readonly #template: Template;
  readonly #variables: Record<string, unknown>;

  private constructor(
    source: string,
    /** Where the template came from: 'chat_template.jinja' or 'tokenizer_config.json'. */
    readonly templateSource: 'chat_template.jinja' | 'tokenizer_config.json',
    readonly format: MessageFormat,
    /** The folder's default instruction (sentence-transformers' default prompt), if any. */
    readonly defaultInstruction: string | undefined,
    variables: Record<string, unknown>,
  ) {
    this.#template = new Template(source);
    this.#variables = variables;
  }

  /**
   * Reads the template of a folder, or throws UNSUPPORTED_MODEL when it has none or the template
   * does not carry both roles of a pair (sentence-transformers raises then too).
   */
  static async read(dir: string, hasModulesJson: boolean): Promise<ChatPrompt> {
    const tokenizerConfig = await readJsonObject(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json');
    const specialMap = await readJsonObject(join(dir, 'special_tokens_map.json'), 'special_tokens_map.json');
    const jinja = await readModelFile(join(dir, 'chat_template.jinja'), 'chat_template.jinja', MAX_JSON_BYTES);
    let source: string | undefined;
    let from: 'chat_template.jinja' | 'tokenizer_config.json' = 'chat_template.jinja';
    if (jinja !== undefined) {
      source = jinja; // transformers 5: the .jinja file wins over tokenizer_config.json
    } else {
      from = 'tokenizer_config.json';
      const raw = tokenizerConfig?.chat_template;
      if (typeof raw === 'string') source = raw;
      else if (Array.isArray(raw)) {
        // Named templates: the one called "default" (transformers' apply_chat_template).
        const named = raw.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') as { template?: unknown } | undefined;
        if (typeof named?.template === 'string') source = named.template;
      }
    }
    if (source === undefined) {
      throw new CrossrankError(
        'UNSUPPORTED_MODEL',
        `${dir} is a decoder reranker without a chat template (chat_template.jinja or tokenizer_config.json chat_template): ` +
          'sentence-transformers 6.2 cannot render a pair for it, so crossrank cannot score it as sentence-transformers does',
      );
    }
    const variables: Record<string, unknown> = { add_generation_prompt: false };
    for (const name of SPECIAL_TOKENS) {
      const value = tokenName(specialMap?.[name]) ?? tokenName(tokenizerConfig?.[name]);
      if (value !== undefined) variables[name] = value;
    }

    const bertConfig = hasModulesJson ? await readJsonObject(join(dir, 'sentence_bert_config.json'), 'sentence_bert_config.json') : undefined;
    const savedFormat = (bertConfig?.modality_config as { message?: { format?: unknown } } | undefined)?.message?.format;
    const format: MessageFormat =
      savedFormat === 'flat' || savedFormat === 'structured'
        ? savedFormat
        : STRUCTURED_PATTERNS.some((p) => source!.includes(p))
          ? 'structured'
          : 'flat';

    let instruction: string | undefined;
    if (hasModulesJson) {
      const st = await readJsonObject(join(dir, 'config_sentence_transformers.json'), 'config_sentence_transformers.json');
      const prompts = st?.prompts;
      const name = st?.default_prompt_name;
      if (typeof name === 'string' && prompts && typeof prompts === 'object') {
        const text = (prompts as Record<string, unknown>)[name];
        if (typeof text === 'string') instruction = text;
      }
    }

    let prompt: ChatPrompt;
    try {
      prompt = new ChatPrompt(source, from, format, instruction, variables);
    } catch (error) {
      throw new CrossrankError('UNSUPPORTED_MODEL', `the chat template (${from}) cannot be parsed: ${(error as Error).message}`);
    }
    prompt.#checkPairRoles();
    return prompt;
  }

  /** The messages sentence-transformers makes of a pair (and an instruction, when non-empty). */
  messages(query: string, document: string, instruction: string | undefined): Message[] {
    const content = (text: string): Message['content'] => (this.format === 'flat' ? text : [{ type: 'text', text }]);
    const messages: Message[] = [
      { role: 'query', content: content(query) },
      { role: 'document', content: content(document) },
    ];
    if (instruction) messages.unshift({ role: 'system', content: content(instruction) });
    return messages;
  }

  /** The rendered prompt of one pair. Throws INVALID_ARGUMENT when the template raises on it. */
  render(query: string, document: string, instruction: string | undefined): string {
    return this.#render(this.messages(query, document, instruction));
  }

  /**
   * The two skeleton renders whose common token suffix is the restored tail: every non-system
   * content replaced by "0", then by "1 2 3 4" (Transformer._message_skeleton).
   */
  skeletons(instruction: string | undefined): [string, string] {
    const render = (filler: string) => {
      const messages = this.messages(filler, filler, undefined);
      if (instruction) messages.unshift(this.messages('', '', instruction)[0]!);
      return this.#render(messages);
    };
    return [render('0'), render('1 2 3 4')];
  }

  #render(messages: Message[]): string {
    try {
      return this.#template.render({ ...this.#variables, messages });
    } catch (error) {
      throw new CrossrankError('INVALID_ARGUMENT', `the model's chat template failed to render a pair: ${(error as Error).message}`);
    }
  }

  #checkPairRoles(): void {
    let renders: string[];
    try {
      renders = PAIR_ROLE_PROBES.map(([q, d]) => this.#render(this.messages(q, d, undefined)));
    } catch (error) {
      throw new CrossrankError('UNSUPPORTED_MODEL', `the chat template cannot carry a query/document pair: it raised ${(error as Error).message}`);
    }
    const dropped = PAIR_ROLES.filter((_, i) => renders[i + 1] === renders[0]);
    if (dropped.length > 0) {
      throw new CrossrankError(
        'UNSUPPORTED_MODEL',
        `the chat template cannot carry a query/document pair (the ${dropped.map((r) => `'${r}'`).join(' and ')} content does not reach the rendered prompt): ` +
          'sentence-transformers 6.2 refuses it too; give the model a template that renders both roles',
      );
    }
  }
}

/**
 * The longest common suffix of two token sequences, when they diverge before either ends
 * (sentence-transformers' _chat_template_suffix_ids); else empty (nothing to restore).
 */
export function commonSuffix(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  let count = 0;
  while (count < a.length && count < b.length && a[a.length - 1 - count] === b[b.length - 1 - count]) count++;
  if (count === 0 || count >= Math.min(a.length, b.length)) return [];
  return Array.from({ length: count }, (_, i) => a[a.length - count + i] as number);
}

/**
 * sentence-transformers' restore on one row (Transformer._restore_chat_template_suffix): a row that
 * reached maxLength gets the suffix written over its last tokens. Returns the row (changed in place).
 */
export function restoreSuffix(ids: Uint32Array, suffix: ArrayLike<number>, maxLength: number): Uint32Array {
  if (suffix.length === 0 || ids.length < maxLength) return ids;
  const keep = Math.min(suffix.length, ids.length);
  for (let i = 0; i < keep; i++) ids[ids.length - keep + i] = suffix[suffix.length - keep + i] as number;
  return ids;
}

function tokenName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

async function readJsonObject(path: string, what: string): Promise<Record<string, unknown> | undefined> {
  const text = await readModelFile(path, what, MAX_JSON_BYTES);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch (error) {
    throw new CrossrankError('INVALID_MODEL', `${what} is not valid JSON (${path}): ${(error as Error).message}`);
  }
}

/**
 * The LogitScore ids sentence-transformers 6.2 scores a causal LM with
 * (cross_encoder/model.py _load_default_modules, cross_encoder/modules/logit_score.py): the
 * LogitScore module of modules.json when there is one (true_token_id, false_token_id or null),
 * else the vocabulary ids of "yes" and "no" (tokenizer.convert_tokens_to_ids). The score is
 * logit[true] - logit[false], or logit[true] alone when false is null.
 */
export async function logitScoreIds(dir: string, hasModulesJson: boolean, tokenizerPath: string): Promise<{ trueTokenId: number; falseTokenId: number | null; source: string }> {
  if (hasModulesJson) {
    const text = await readModelFile(join(dir, 'modules.json'), 'modules.json', MAX_JSON_BYTES);
    let modules: unknown;
    try {
      modules = JSON.parse(text ?? '[]');
    } catch (error) {
      throw new CrossrankError('INVALID_MODEL', `modules.json is not valid JSON: ${(error as Error).message}`);
    }
    const entry = Array.isArray(modules)
      ? (modules as { type?: unknown; path?: unknown }[]).find((m) => typeof m?.type === 'string' && m.type.endsWith('LogitScore'))
      : undefined;
    if (!entry) {
      throw new CrossrankError('UNSUPPORTED_MODEL', 'modules.json of this causal LM has no LogitScore module: crossrank cannot tell which token logits score a pair');
    }
    const path = typeof entry.path === 'string' ? entry.path : '';
    const config = await readJsonObject(join(dir, path, 'config.json'), `${path}/config.json`);
    const t = config?.true_token_id;
    const f = config?.false_token_id;
    if (typeof t !== 'number' || !Number.isInteger(t) || (f !== null && f !== undefined && (typeof f !== 'number' || !Number.isInteger(f)))) {
      throw new CrossrankError('INVALID_MODEL', `${path}/config.json does not name integer true_token_id / false_token_id`);
    }
    return { trueTokenId: t, falseTokenId: typeof f === 'number' ? f : null, source: `${path}/config.json (LogitScore)` };
  }
  const vocab = await tokenIds(tokenizerPath, ['yes', 'no']);
  const yes = vocab.get('yes');
  const no = vocab.get('no');
  if (yes === undefined || no === undefined) {
    throw new CrossrankError('UNSUPPORTED_MODEL', "the tokenizer has no 'yes'/'no' tokens and the folder no modules.json naming others (sentence-transformers refuses it too)");
  }
  return { trueTokenId: yes, falseTokenId: no, source: 'the tokens "yes" and "no" (no modules.json)' };
}

/** Vocabulary ids of whole tokens in tokenizer.json (added tokens first), as convert_tokens_to_ids finds them. */
async function tokenIds(tokenizerPath: string, tokens: string[]): Promise<Map<string, number>> {
  const text = await readModelFile(tokenizerPath, 'tokenizer.json', 256 * 2 ** 20);
  const json = JSON.parse(text ?? '{}') as { added_tokens?: { id: number; content: string }[]; model?: { vocab?: unknown } };
  const out = new Map<string, number>();
  for (const token of tokens) {
    const added = json.added_tokens?.find((t) => t.content === token);
    if (added) {
      out.set(token, added.id);
      continue;
    }
    const vocab = json.model?.vocab;
    if (Array.isArray(vocab)) {
      const index = vocab.findIndex((entry) => Array.isArray(entry) && entry[0] === token); // Unigram: [piece, score]
      if (index >= 0) out.set(token, index);
    } else if (vocab && typeof vocab === 'object' && Object.hasOwn(vocab, token)) {
      const id = (vocab as Record<string, unknown>)[token];
      if (typeof id === 'number') out.set(token, id);
    }
  }
  return out;
}
