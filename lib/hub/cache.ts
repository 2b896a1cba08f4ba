// The Hugging Face cache layout, as Python's huggingface_hub writes and reads it
// (huggingface_hub/file_download.py), so both share one copy of each file:
//   <cache>/models--<org>--<name>/refs/<revision>          the commit a branch or tag pointed to
//   <cache>/models--<org>--<name>/blobs/<etag>             file contents, named by git oid or LFS sha256
//   <cache>/models--<org>--<name>/blobs/<etag>.incomplete  a download in progress (never read as a file)
//   <cache>/models--<org>--<name>/snapshots/<commit>/<path> relative symlink to ../../blobs/<etag>
import { lstat, mkdir, readFile, readdir, rename, rm, stat, symlink, copyFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';

import { getRepoFolderName } from '@huggingface/hub';

import { CrossrankError } from '../errors.js';

export const COMMIT_HASH = /^[0-9a-f]{40}$/;

/** The repo's folder in the cache: models--org--name. */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, getRepoFolderName({ type: 'model', name: repo }));
}

/** Errors of the file system that mean the cache cannot take the file: full, read-only, not a folder. */
const DISK_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'EISDIR']);

/** A file-system error while writing the cache, as CACHE_NOT_WRITABLE when the disk is at fault (else rethrown as is). */
export function cacheWriteError(error: unknown, path: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string' || !DISK_ERRORS.has(code)) return error;
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : `it is not writable (${code})`;
  return new CrossrankError(
    'CACHE_NOT_WRITABLE',
    `cannot write the Hugging Face cache at ${path}: ${why}. Free some space, or point HF_HUB_CACHE (or HF_HOME) at a writable folder.`,
    { cause: error },
  );
}

async function existsFollowing(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The commit a cached revision points to: the revision itself when it is a commit hash, else refs/<revision>. */
export async function cachedCommit(storage: string, revision: string): Promise<string | undefined> {
  if (COMMIT_HASH.test(revision)) return revision;
  try {
    const commit = (await readFile(join(storage, 'refs', revision), 'utf8')).trim();
    return COMMIT_HASH.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** Files of a cached snapshot (paths with '/'), counting only links that resolve to a blob. */
export async function snapshotFiles(snapshot: string): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (await existsFollowing(path)) files.push(relative(snapshot, path).split(sep).join('/'));
    }
  };
  await walk(snapshot);
  return files.sort();
}

/** Which of `paths` the snapshot lacks. */
export async function missingFiles(snapshot: string, paths: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const path of paths) if (!(await existsFollowing(join(snapshot, path)))) missing.push(path);
  return missing;
}

/** Records that `revision` points to `commit` (refs/<revision>), as Python does; nothing for a commit hash. */
export async function writeRef(storage: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const ref = join(storage, 'refs', revision);
  try {
    if ((await readFile(ref, 'utf8').catch(() => '')).trim() === commit) return;
    await mkdir(dirname(ref), { recursive: true });
    const tmp = `${ref}.${process.pid}.tmp`;
    await writeFile(tmp, commit);
    await rename(tmp, ref); // a reader sees the old commit or the new one, never half
  } catch (error) {
    throw cacheWriteError(error, ref);
  }
}

/** Points snapshots/<commit>/<path> at the blob with a relative link (a copy where links are refused). */
export async function linkSnapshotFile(storage: string, commit: string, path: string, blob: string): Promise<string> {
  const pointer = join(storage, 'snapshots', commit, ...path.split('/'));
  try {
    await mkdir(dirname(pointer), { recursive: true });
    await rm(pointer, { force: true });
    try {
      await symlink(relative(dirname(pointer), blob), pointer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EPERM') throw error;
      await copyFile(blob, pointer);
    }
  } catch (error) {
    throw cacheWriteError(error, pointer);
  }
  return pointer;
}

/** The blob path for an etag, and whether it is already complete (a finished file of the expected size). */
export async function blobState(storage: string, etag: string, size: number): Promise<{ path: string; complete: boolean }> {
  const path = join(storage, 'blobs', etag);
  try {
    const s = await lstat(path);
    return { path, complete: s.isFile() && s.size === size };
  } catch {
    return { path, complete: false };
  }
}
