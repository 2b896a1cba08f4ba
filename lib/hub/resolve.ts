// Turns a hub id into a local folder in the HF cache: one metadata request for the revision's
// commit and file list, a choice of ONNX file, and downloads of only the files missing from the
// cache. Requests go through @huggingface/hub (modelInfo, pathsInfo, downloadFile); the cache is
// written here, in Python's layout (see cache.ts), because downloadFileToCacheDir names a
// snapshot after each file's last commit unless given a commit, writes no refs/, logs each
// download with console.debug, reports no progress and does not check the size it received.
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { HubApiError, downloadFile, modelInfo, pathsInfo } from '@huggingface/hub';

import { CrossrankError } from '../errors.js';
import {
  COMMIT_HASH,
  blobState,
  cacheWriteError,
  cachedCommit,
  linkSnapshotFile,
  missingFiles,
  repoFolder,
  snapshotFiles,
  writeRef,
} from './cache.js';
import { type FileDevice, type FilePrecision, chooseModelFile, externalDataFiles } from './choose.js';
import { type HubRef, type HubSettings, hubSettings } from './settings.js';

/** Files a model needs besides its ONNX file, downloaded when the repo has them (tokenizer.json is required). */
export const SIDE_FILES = [
  'config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'config_sentence_transformers.json',
  'modules.json',
  'chat_template.jinja', // LLM rerankers' prompt (transformers 5 saves the template here)
  'sentence_bert_config.json', // LLM rerankers: the Transformer module's message format and max_seq_length
  '1_LogitScore/config.json', // LLM rerankers: the true/false token ids, where sentence-transformers saves them
  'crossrank_convert.json', // a folder crossrank convert made: what precision 'auto' reads (lib/hub/precision.ts)
] as const;

/** Download progress, reported as bytes arrive. Totals cover only files not already cached. */
export interface DownloadProgress {
  /** The repo path being downloaded (e.g. 'onnx/model.onnx'). */
  file: string;
  /** Bytes of this file received so far. */
  fileLoaded: number;
  /** This file's size in bytes. */
  fileTotal: number;
  /** Bytes of all this load's downloads received so far. */
  loaded: number;
  /** Bytes of all this load's downloads together (only files not already cached). */
  total: number;
}

/** Options of resolveHubModel(): which file to choose, progress, and the hub client's limits. */
export interface ResolveOptions {
  /** Which ONNX file by precision (default 'fp32'; the table of lib/hub/choose.ts). */
  precision?: FilePrecision;
  /** Which ONNX file by device (default 'cpu'). */
  device?: FileDevice;
  /** A repo path that overrides the file choice (e.g. 'onnx/model_O2.onnx'). */
  modelFile?: string;
  /** Called as download bytes arrive. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Defaults from the environment (hubSettings()). */
  settings?: Partial<HubSettings>;
  /** Attempts per request on network errors and 5xx/429 answers (default 3), and the first pause between them in ms (default 250, doubling). */
  retries?: number;
  /** The first pause between attempts, in ms (default 250, doubling each time). */
  retryDelayMs?: number;
  /** A download that receives nothing for this long (ms, default 60,000) counts as cut short. */
  idleTimeoutMs?: number;
}

/** Where a hub model was found. */
export interface HubModel {
  /** The repo id, `org/name`, as asked for. */
  repo: string;
  /** The revision asked for (branch, tag or commit). */
  revision: string;
  /** The commit it resolved to. */
  commit: string;
  /** The snapshot folder in the cache: a model folder. */
  dir: string;
  /** The chosen ONNX file, relative to dir. */
  file: string;
  /** Every file of the revision (repo paths), downloaded or not: what precision 'auto' chooses among. */
  files: string[];
  /** Repo paths downloaded by this load (empty when all were cached). */
  downloaded: string[];
  /** 'hub': the revision was checked with the hub; 'cache': offline, or the hub was unreachable and the cache had the revision. */
  source: 'hub' | 'cache';
}

/**
 * How long a metadata request may go unanswered: HF_HUB_ETAG_TIMEOUT seconds, 10 by default, as in
 * Python's huggingface_hub (constants.py). A hub that does not answer in time is not asked again:
 * behind a firewall that drops packets every retry would cost the whole timeout once more.
 */
function metadataTimeoutMs(): number {
  const seconds = Number(process.env.HF_HUB_ETAG_TIMEOUT);
  return (Number.isFinite(seconds) && seconds > 0 ? seconds : 10) * 1000;
}

/** A relative repo path without '..', '.' or empty segments (what may be joined onto the cache). */
function safeRepoPath(path: string): boolean {
  return path.length > 0 && !path.startsWith('/') && !path.includes('\\') && path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}

/** What the last failed answer said; createApiError keeps the status but drops X-Error-Code. */
interface Failure {
  status: number;
  errorCode: string | null;
  errorMessage: string | null;
  /** Set when no answer came at all (HUB_UNREACHABLE). */
  error?: CrossrankError;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A fetch that retries network errors and 5xx/429 answers, then throws HUB_UNREACHABLE, and records failed answers. */
function hubFetch(endpoint: string, retries: number, delayMs: number, failures: Failure[]): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const metadata = url.includes('/api/');
    let lastError: unknown;
    let tries = 0;
    for (let attempt = 0; attempt < retries; attempt++) {
      if (attempt > 0) await sleep(delayMs * 2 ** (attempt - 1));
      tries++;
      let response: Response;
      try {
        response = await fetch(input, metadata ? { ...init, signal: AbortSignal.timeout(metadataTimeoutMs()) } : init);
      } catch (error) {
        lastError = error;
        if ((error as Error).name === 'TimeoutError') break;
        continue;
      }
      if ((response.status >= 500 || response.status === 429) && attempt + 1 < retries) {
        await response.body?.cancel();
        lastError = new Error(`HTTP ${response.status}`);
        continue;
      }
      if (!response.ok) {
        failures.push({
          status: response.status,
          errorCode: response.headers.get('x-error-code'),
          errorMessage: response.headers.get('x-error-message'),
        });
      }
      return response;
    }
    const cause = lastError as (Error & { cause?: Error }) | undefined;
    const error = new CrossrankError(
      'HUB_UNREACHABLE',
      `cannot reach the Hugging Face hub at ${endpoint} after ${tries} attempt${tries === 1 ? '' : 's'} (${cause?.cause?.message ?? cause?.message ?? 'no answer'}). ` +
        'Check the network (or HF_ENDPOINT), or set HF_HUB_OFFLINE=1 to use only the cache.',
      { cause: lastError },
    );
    // WebBlob turns a throwing fetch into a bare message: keep the coded error for the caller.
    failures.push({ status: 0, errorCode: null, errorMessage: null, error });
    throw error;
  };
}

/** A hub failure as a coded error that says what to do. */
function hubError(error: unknown, ref: HubRef, settings: HubSettings, failures: Failure[], what: string): unknown {
  if (error instanceof CrossrankError) return error;
  if (!(error instanceof HubApiError)) return error;
  const failure = failures.at(-1);
  const code = failure?.errorCode ?? '';
  const status = error.statusCode;
  const name = `${ref.repo}@${ref.revision}`;
  if (code === 'GatedRepo') {
    return settings.token
      ? new CrossrankError('HUB_ACCESS_DENIED', `${ref.repo} is gated and your token has no access to it: accept its terms on ${settings.endpoint}/${ref.repo} with the account of HF_TOKEN.`)
      : new CrossrankError('HUB_AUTH_REQUIRED', `${ref.repo} is gated: accept its terms on ${settings.endpoint}/${ref.repo}, then set HF_TOKEN to a token of that account.`);
  }
  if (status === 401 && settings.token && code !== 'RepoNotFound') {
    return new CrossrankError('HUB_ACCESS_DENIED', `the hub rejected your token (HF_TOKEN) for ${ref.repo}: ${failure?.errorMessage ?? error.message}. Make a new token with read access.`);
  }
  if (code === 'RepoNotFound' || (status === 401 && !settings.token)) {
    return new CrossrankError(
      'MODEL_NOT_FOUND',
      settings.token
        ? `no model folder or hub repo ${ref.repo} (or your token cannot see it): check the id.`
        : `no model folder or hub repo ${ref.repo}: check the id; if the repo is private, set HF_TOKEN.`,
    );
  }
  if (code === 'RevisionNotFound') return new CrossrankError('MODEL_NOT_FOUND', `${ref.repo} has no revision ${ref.revision}: name a branch, tag or commit it has.`);
  if (code === 'EntryNotFound' || status === 404) return new CrossrankError('MODEL_NOT_FOUND', `${name} has no ${what}.`);
  if (status === 403) return new CrossrankError('HUB_ACCESS_DENIED', `the hub refused ${what} of ${name} (403): check that HF_TOKEN has access.`);
  if (status >= 500 || status === 429) {
    return new CrossrankError('HUB_UNREACHABLE', `the hub at ${settings.endpoint} kept failing (HTTP ${status}) for ${name}: try again later, or set HF_HUB_OFFLINE=1 to use the cache.`);
  }
  return new CrossrankError('INTERNAL', `unexpected answer from the hub for ${name}: ${error.message}`, { cause: error });
}

/** The model's files from a cached snapshot, without any request. */
async function fromCache(ref: HubRef, settings: HubSettings, options: ResolveOptions, why: string): Promise<HubModel> {
  const storage = repoFolder(settings.cacheDir, ref.repo);
  const commit = await cachedCommit(storage, ref.revision);
  const hint = `${why}: run once with network to download it (or unset HF_HUB_OFFLINE).`;
  if (!commit) throw new CrossrankError('HUB_OFFLINE', `${ref.repo}@${ref.revision} is not in the cache ${settings.cacheDir}; ${hint}`);
  const dir = join(storage, 'snapshots', commit);
  const files = await snapshotFiles(dir);
  let file: string;
  try {
    file = options.modelFile ?? chooseModelFile(files, `the cached ${ref.repo}@${ref.revision}`, options.precision, options.device);
  } catch (error) {
    throw new CrossrankError('HUB_OFFLINE', `${(error as Error).message.replace(/ Make one with.*$/, '')}; ${hint}`);
  }
  const missing = await missingFiles(dir, ['tokenizer.json', file]);
  if (missing.length > 0) {
    throw new CrossrankError('HUB_OFFLINE', `the cached ${ref.repo}@${ref.revision} lacks ${missing.join(', ')}; ${hint}`);
  }
  return { repo: ref.repo, revision: ref.revision, commit, dir, file, files, downloaded: [], source: 'cache' };
}

// One download per blob at a time in this process: concurrent loads of a model share it.
const inFlight = new Map<string, Promise<void>>();

/**
 * Resolves a hub model to a folder in the HF cache, downloading what is missing.
 *
 * Requests: online, one `GET /api/models/{repo}/revision/{revision}` (commit and file list);
 * when files are missing, one `POST /api/models/{repo}/paths-info/{commit}` (their git oid or LFS
 * sha256, which name the blobs, and sizes) and one `GET /{repo}/resolve/{commit}/{path}` each
 * (redirects followed). Offline (HF_HUB_OFFLINE): none. When the hub cannot be reached, a cached
 * revision is used as Python's huggingface_hub does.
 *
 * Errors (CrossrankError codes): MODEL_NOT_FOUND (no such repo, revision or file; no ONNX file),
 * HUB_AUTH_REQUIRED (gated or private, no token), HUB_ACCESS_DENIED (token rejected or without
 * access), HUB_OFFLINE (offline and not cached), HUB_UNREACHABLE (network down after retries),
 * DOWNLOAD_INCOMPLETE (a download cut short, twice), CACHE_NOT_WRITABLE (disk full, read-only).
 */
export async function resolveHubModel(ref: HubRef, options: ResolveOptions = {}): Promise<HubModel> {
  const settings = hubSettings(options.settings);
  if (options.modelFile !== undefined && !safeRepoPath(options.modelFile)) {
    throw new CrossrankError('INVALID_ARGUMENT', `options.modelFile must be a path inside the repo, received ${JSON.stringify(options.modelFile)}`);
  }
  if (settings.offline) return fromCache(ref, settings, options, 'HF_HUB_OFFLINE is set');
  if (settings.token !== undefined && !settings.token.startsWith('hf_')) {
    throw new CrossrankError('HUB_ACCESS_DENIED', 'HF_TOKEN does not look like a Hugging Face token (they start with hf_): make one at https://huggingface.co/settings/tokens');
  }

  const failures: Failure[] = [];
  const retries = Math.max(1, options.retries ?? 3);
  const fetcher = hubFetch(settings.endpoint, retries, options.retryDelayMs ?? 250, failures);
  const common = { hubUrl: settings.endpoint, accessToken: settings.token, fetch: fetcher };
  const storage = repoFolder(settings.cacheDir, ref.repo);

  let commit: string;
  let files: string[];
  try {
    const info = await modelInfo({ ...common, name: ref.repo, revision: ref.revision, additionalFields: ['sha', 'filePaths'] });
    if (typeof info.sha !== 'string' || !COMMIT_HASH.test(info.sha) || !Array.isArray(info.filePaths)) {
      throw new CrossrankError('INTERNAL', `the hub's answer for ${ref.repo}@${ref.revision} has no commit hash or file list`);
    }
    commit = info.sha;
    // Paths from the hub are joined onto the cache folder: keep only those that stay inside it.
    files = info.filePaths.filter(safeRepoPath);
  } catch (error) {
    const coded = hubError(error, ref, settings, failures, 'revision');
    if (coded instanceof CrossrankError && coded.code === 'HUB_UNREACHABLE') {
      // Like huggingface_hub: without the hub, a revision already in the cache still loads.
      try {
        return await fromCache(ref, settings, options, coded.message);
      } catch {
        throw coded;
      }
    }
    throw coded;
  }

  const where = `${ref.repo}@${ref.revision}`;
  if (options.modelFile !== undefined && !files.includes(options.modelFile)) {
    throw new CrossrankError('MODEL_NOT_FOUND', `${where} has no file ${options.modelFile} (modelFile): its ONNX files are ${files.filter((f) => f.endsWith('.onnx')).join(', ') || 'none'}`);
  }
  const file = options.modelFile ?? chooseModelFile(files, where, options.precision, options.device);
  if (!files.includes('tokenizer.json')) {
    throw new CrossrankError('MODEL_NOT_FOUND', `${where} has no tokenizer.json (crossrank needs the fast tokenizer): convert it with \`crossrank convert\`, which saves one.`);
  }
  const wanted = [...SIDE_FILES.filter((f) => files.includes(f)), file, ...externalDataFiles(file, files)];
  const dir = join(storage, 'snapshots', commit);
  const missing = await missingFiles(dir, wanted);

  if (missing.length > 0) {
    let infos;
    try {
      infos = await pathsInfo({ ...common, repo: ref.repo, revision: commit, paths: missing });
    } catch (error) {
      throw hubError(error, ref, settings, failures, `files ${missing.join(', ')}`);
    }
    const byPath = new Map(infos.map((i) => [i.path, i]));
    const plan = missing.map((path) => {
      const info = byPath.get(path);
      if (!info) throw new CrossrankError('MODEL_NOT_FOUND', `${where} lists ${path} but the hub has no details of it`);
      // Blob names as Python's: the LFS sha256 for LFS files, else the git blob oid (the hub's ETag).
      const etag = info.lfs?.oid ?? info.oid;
      if (!etag || !/^[0-9a-f]{40}$|^[0-9a-f]{64}$/.test(etag)) throw new CrossrankError('INTERNAL', `the hub gave no valid oid for ${path}`);
      return { path, etag, size: info.lfs?.size ?? info.size };
    });
    const total = plan.reduce((sum, p) => sum + p.size, 0);
    let loaded = 0;
    for (const item of plan) {
      let fileLoaded = 0;
      const blob = await blobState(storage, item.etag, item.size);
      if (!blob.complete) {
        const key = blob.path;
        let job = inFlight.get(key);
        if (!job) {
          job = downloadBlob(ref, settings, commit, item, blob.path, common, failures, options.idleTimeoutMs ?? 60_000, (n) => {
            loaded += n;
            fileLoaded += n;
            options.onProgress?.({ file: item.path, fileLoaded, fileTotal: item.size, loaded, total });
          }).finally(() => inFlight.delete(key));
          inFlight.set(key, job);
        }
        await job;
      }
      await linkSnapshotFile(storage, commit, item.path, blob.path);
    }
  }
  await writeRef(storage, ref.revision, commit);
  return { repo: ref.repo, revision: ref.revision, commit, dir, file, files, downloaded: missing, source: 'hub' };
}

/**
 * Downloads one file into blobs/<etag>.incomplete and renames it to blobs/<etag> once every byte
 * arrived: a file cut short stays .incomplete, which no load takes as complete (the next one
 * starts it over). One retry after a cut, then DOWNLOAD_INCOMPLETE.
 */
async function downloadBlob(
  ref: HubRef,
  settings: HubSettings,
  commit: string,
  item: { path: string; etag: string; size: number },
  blobPath: string,
  common: { hubUrl: string; accessToken: string | undefined; fetch: typeof fetch },
  failures: Failure[],
  idleTimeoutMs: number,
  progress: (bytesAdded: number) => void,
): Promise<void> {
  const incomplete = `${blobPath}.incomplete`;
  try {
    await mkdir(dirname(blobPath), { recursive: true });
  } catch (error) {
    throw cacheWriteError(error, dirname(blobPath));
  }
  const url = `${settings.endpoint}/${ref.repo}/resolve/${commit}/${item.path.split('/').map(encodeURIComponent).join('/')}`;
  let lastProblem = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    const before = failures.length;
    // downloadInfo given: no probe request; xet off: the plain resolve URL serves every file.
    const blob = await downloadFile({
      ...common,
      repo: ref.repo,
      path: item.path,
      revision: commit,
      xet: false,
      downloadInfo: { size: item.size, etag: item.etag, url },
    });
    if (!blob) throw new CrossrankError('MODEL_NOT_FOUND', `${ref.repo}@${commit} has no ${item.path}`);
    let received = 0;
    let streamError: unknown;
    // A stalled connection never ends by itself: abort the copy after idleTimeoutMs without data.
    const idle = new AbortController();
    let timer = setTimeout(() => idle.abort(), idleTimeoutMs);
    const count = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleTimeoutMs);
        received += chunk.byteLength;
        progress(chunk.byteLength);
        done(null, chunk);
      },
    });
    try {
      // 'w' opens (and truncates) what is there, following a link, as Python's open(..., "wb") does.
      await pipeline(Readable.fromWeb(blob.stream() as WebReadableStream<Uint8Array>), count, createWriteStream(incomplete, { flags: 'w' }), {
        signal: idle.signal,
      });
    } catch (error) {
      const mapped = cacheWriteError(error, incomplete);
      if (mapped instanceof CrossrankError) throw mapped; // the disk, not the network
      streamError = idle.signal.aborted ? new Error(`no data for ${idleTimeoutMs} ms`) : error;
    } finally {
      clearTimeout(timer);
    }
    if (failures.length > before) {
      // The GET itself was answered with an error (gated, rejected token...): no retry helps.
      const failure = failures.at(-1)!;
      if (failure.error) throw failure.error;
      throw hubError(new HubApiError(url, failure.status), ref, settings, failures, item.path);
    }
    if (streamError === undefined && received === item.size) {
      try {
        await rename(incomplete, blobPath);
      } catch (error) {
        throw cacheWriteError(error, blobPath);
      }
      return;
    }
    progress(-received); // the retry starts over
    lastProblem =
      streamError !== undefined
        ? `the connection broke after ${received} of ${item.size} bytes: ${(streamError as Error).message ?? String(streamError)}`
        : `got ${received} of ${item.size} bytes`;
  }
  throw new CrossrankError(
    'DOWNLOAD_INCOMPLETE',
    `downloading ${item.path} of ${ref.repo} was cut short twice (${lastProblem}); nothing incomplete is kept as a file. Run the load again to restart it.`,
  );
}
