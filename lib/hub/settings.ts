// Where a hub model comes from and goes to: model references (folder or `org/name[@revision]`)
// and the environment Python's huggingface_hub reads, read the same way.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

import { getHFHubCachePath } from '@huggingface/hub';

import { CrossrankError } from '../errors.js';

/** Settings of a hub download. Each defaults to the environment variable Python's huggingface_hub reads. */
export interface HubSettings {
  /** The hub's base URL: HF_ENDPOINT, else https://huggingface.co. */
  endpoint: string;
  /** HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token (what `hf auth login` writes). */
  token: string | undefined;
  /** HF_HUB_OFFLINE=1 (or true/yes/on): cache only, no request at all. */
  offline: boolean;
  /** HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub. */
  cacheDir: string;
}

const TRUE_VALUES = new Set(['1', 'on', 'yes', 'true']); // huggingface_hub's _is_true

function hfHome(): string {
  return process.env.HF_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
}

function storedToken(): string | undefined {
  const path = process.env.HF_TOKEN_PATH ?? join(hfHome(), 'token');
  try {
    const token = readFileSync(path, 'utf8').trim();
    return token.length > 0 ? token : undefined;
  } catch {
    return undefined;
  }
}

/** The settings from the environment, read now (so tests and long-lived processes see changes). */
export function hubSettings(overrides: Partial<HubSettings> = {}): HubSettings {
  const endpoint = (overrides.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const envToken = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN || undefined;
  return {
    endpoint,
    token: overrides.token ?? envToken ?? storedToken(),
    offline: overrides.offline ?? TRUE_VALUES.has((process.env.HF_HUB_OFFLINE ?? '').trim().toLowerCase()),
    cacheDir: overrides.cacheDir ?? getHFHubCachePath(),
  };
}

/** A model on the hub: repo id and revision (branch, tag or commit). */
export interface HubRef {
  /** The repo id, `org/name`. */
  repo: string;
  /** A branch, tag or commit ('main' unless one is named). */
  revision: string;
}

// huggingface_hub's validate_repo_id, with the namespace required: `org/name`, word characters,
// '-' and '.', no '--' or '..', at most 96 characters.
const REPO_ID = /^[\w.-]+\/[\w.-]+$/;

function looksLikeRepoId(id: string): boolean {
  // Both parts start and end with a word character (the \b of huggingface_hub's REPO_ID_REGEX), so
  // './x' and '../x' are paths, never ids.
  return REPO_ID.test(id) && id.length <= 96 && !id.includes('--') && !id.includes('..') && id.split('/').every((part) => !/^[.-]|[.-]$/.test(part));
}

/**
 * What `CrossEncoder.load(idOrDir)` names: an existing path is a folder (used as before); else
 * `org/name` or `org/name@revision` is a hub repo (revision from the id or `revision`, default
 * 'main'); anything else is a folder, so a missing one gets the folder error.
 */
export function parseModelRef(
  idOrDir: string,
  revision?: string,
): {
  /** The path as given: an existing path, or anything that is not a hub id. */
  folder: string;
} | {
  /** The hub repo and revision named. */
  hub: HubRef;
} {
  if (existsSync(idOrDir)) return { folder: idOrDir };
  const at = idOrDir.indexOf('@');
  const id = at >= 0 ? idOrDir.slice(0, at) : idOrDir;
  const idRevision = at >= 0 ? idOrDir.slice(at + 1) : undefined;
  if (!looksLikeRepoId(id)) return { folder: idOrDir };
  if (idRevision !== undefined && idRevision.length === 0) {
    throw new CrossrankError('INVALID_ARGUMENT', `${JSON.stringify(idOrDir)} ends with '@': name a revision after it, or drop the '@'`);
  }
  if (idRevision !== undefined && revision !== undefined && idRevision !== revision) {
    throw new CrossrankError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(idOrDir)} names revision ${idRevision} but options.revision is ${revision}: give one`,
    );
  }
  return { hub: { repo: id, revision: idRevision ?? revision ?? 'main' } };
}
