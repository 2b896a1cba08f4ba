// Long documents scored by their best passage: MaxP (Dai and Callan, "Deeper Text Understanding
// for IR with Contextual Neural Language Modeling", SIGIR 2019), the aggregation Cohere's v1
// rerank API exposes as max_chunks_per_doc. A document longer than the room a pair leaves after
// the query is cut into windows of that many tokens (with an overlap); each window's text is
// scored with the query as its own pair and the document takes its best window's score.
import { CrossrankError } from './errors.js';
import type { NativeModel } from './types.js';
import { checkKeys, checkObject, optionalInt } from './validate.js';

/** rerank()'s `chunking` option. */
export interface ChunkingOptions {
  /**
   * Most windows scored per document (default 10, Cohere v1's max_chunks_per_doc default);
   * text past the last window is not read, as with truncation.
   */
  maxChunks?: number;
  /**
   * Tokens each window shares with the one before (default 0), at most half a window: larger
   * values are lowered to that. The MaxP paper used half (150-word passages, stride 75).
   */
  overlap?: number;
}

/** Which window of a document gave its score, in UTF-16 code units of the document (JS string indices). */
export interface ChunkInfo {
  /** Window number, from 0. */
  index: number;
  /** First character of the window. */
  start: number;
  /** One past its last character: `document.slice(start, end)` is the text that was scored. */
  end: number;
}

/** Validated chunking settings. */
export interface Chunking {
  maxChunks: number;
  overlap: number;
}

const MAX_INT = 2 ** 31 - 1;

/** Checks rerank's `chunking` option; undefined when absent. */
export function readChunking(name: string, value: unknown): Chunking | undefined {
  if (value === undefined) return undefined;
  const o = checkObject(name, value);
  checkKeys(name, o, ['maxChunks', 'overlap']);
  return {
    maxChunks: optionalInt(`${name}.maxChunks`, o.maxChunks, 1, MAX_INT) ?? 10,
    overlap: optionalInt(`${name}.overlap`, o.overlap, 0, MAX_INT) ?? 0,
  };
}

/** The windows of one document: the texts to score and where each lies. */
export interface DocumentWindows {
  texts: string[];
  chunks: ChunkInfo[];
}

/**
 * Tokens the document may take in a pair with this query: the tokenizers crate's longest_first
 * rule (tokenizers 0.23 `truncate_encodings`): with M = maxLength - special tokens and a query
 * of q tokens, a longer document keeps M - q tokens when q <= M / 2, else ceil(M / 2).
 */
export async function documentRoom(model: NativeModel, query: string, maxLength: number): Promise<number> {
  const { ids } = await model.encode(['', query], ['', '']);
  const special = ids[0]!.length;
  const q = ids[1]!.length - special;
  const m = maxLength - special;
  return Math.max(1, q <= Math.floor(m / 2) ? m - q : Math.ceil(m / 2));
}

/**
 * Cuts each document into windows of at most `room` tokens (offsets from the native tokenizer),
 * each starting `overlap` tokens before the previous one's end, at most maxChunks. Windows start
 * and end on word boundaries: a token that continues the one before it (WordPiece's ##pieces,
 * with no space between) stays with its word, so a window's text re-tokenizes to the same
 * tokens. A document that fits is one window, its whole text.
 */
export async function planWindows(model: NativeModel, documents: string[], room: number, chunking: Chunking): Promise<DocumentWindows[]> {
  if (typeof model.tokenOffsets !== 'function') {
    throw new CrossrankError('NATIVE_UNAVAILABLE', 'options.chunking needs token offsets, which this native addon predates: rebuild it (npx crossrank build) or update crossrank');
  }
  const offsets = await model.tokenOffsets(documents);
  const overlap = Math.min(chunking.overlap, Math.floor(room / 2));
  return documents.map((doc, d) => {
    const tokens = offsets[d]!;
    const n = tokens.length / 2;
    if (n <= room) return { texts: [doc], chunks: [{ index: 0, start: 0, end: doc.length }] };
    const map = utf16Map(doc);
    const continues = (i: number): boolean => continuesWord(doc, map, tokens, i);
    const texts: string[] = [];
    const chunks: ChunkInfo[] = [];
    let begin = 0;
    let previous = -1;
    while (chunks.length < chunking.maxChunks) {
      // Start at a word's first token (an overlap may land inside a word), after the previous start.
      while (begin > previous + 1 && continues(begin)) begin--;
      let last = Math.min(begin + room, n) - 1;
      // End at a word's last token, unless one word fills the whole window.
      if (last < n - 1) {
        let cut = last;
        while (cut > begin && continues(cut + 1)) cut--;
        if (!continues(cut + 1)) last = cut;
      }
      const start = map.start[tokens[2 * begin]!]!;
      const endByte = tokens[2 * last + 1]!;
      const end = Math.max(start, endByte > 0 ? map.end[endByte - 1]! : 0);
      chunks.push({ index: chunks.length, start, end });
      texts.push(doc.slice(start, end));
      if (last === n - 1) break;
      previous = begin;
      begin = Math.max(begin + 1, last + 1 - overlap);
    }
    return { texts, chunks };
  });
}

/** Whether token i starts exactly where token i - 1 ends, between two letters or digits. */
function continuesWord(doc: string, map: Utf16Map, tokens: Uint32Array, i: number): boolean {
  const startByte = tokens[2 * i]!;
  if (startByte !== tokens[2 * i - 1] || startByte === 0) return false;
  const at = map.start[startByte]!;
  return WORD.test(doc.charAt(at - 1)) && WORD.test(doc.charAt(at));
}
const WORD = /^[\p{L}\p{N}\p{M}]$/u;

/** For each UTF-8 byte of a string: the UTF-16 index where its code point starts, and where it ends. */
interface Utf16Map {
  start: Uint32Array;
  end: Uint32Array;
}

/**
 * Byte offsets -> string indices. The addon receives strings as UTF-8, with each lone surrogate
 * replaced by U+FFFD (3 bytes), so this walk counts bytes the same way.
 */
function utf16Map(text: string): Utf16Map {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) bytes += utf8Length(text, i) ?? 0;
  const start = new Uint32Array(bytes + 1);
  const end = new Uint32Array(bytes + 1);
  let b = 0;
  for (let i = 0; i < text.length; ) {
    const n = utf8Length(text, i)!;
    const units = n === 4 ? 2 : 1;
    for (let k = 0; k < n; k++) {
      start[b + k] = i;
      end[b + k] = i + units;
    }
    b += n;
    i += units;
  }
  start[bytes] = text.length;
  end[bytes] = text.length;
  return { start, end };
}

/** UTF-8 bytes of the code point at string index i; undefined for the second half of a pair. */
function utf8Length(text: string, i: number): number | undefined {
  const c = text.charCodeAt(i);
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = text.charCodeAt(i + 1);
    if (next >= 0xdc00 && next <= 0xdfff) return 4;
    return 3; // lone high surrogate -> U+FFFD
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const prev = text.charCodeAt(i - 1);
    if (i > 0 && prev >= 0xd800 && prev <= 0xdbff) return undefined; // counted with its pair
    return 3; // lone low surrogate -> U+FFFD
  }
  return 3;
}
