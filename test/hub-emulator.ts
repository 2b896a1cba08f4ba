// A Hugging Face hub emulator for tests: an HTTP server on 127.0.0.1 that serves folders with the
// real hub's URL shapes, headers and status codes (as huggingface_hub and @huggingface/hub read
// them), counts every request, and can misbehave on purpose.
//
// Routes:
//   GET  /api/models/{org}/{name}/revision/{rev}          model info: sha, siblings, gated, private
//   GET  /api/models/{org}/{name}/tree/{rev}[/{path}]     file listing (recursive=true|1)
//   POST /api/models/{org}/{name}/paths-info/{rev}        {paths, expand} as JSON or a form
//   HEAD|GET /{org}/{name}/resolve/{rev}/{path}           200 with ETag (git oid), X-Repo-Commit; LFS
//                                                         files: 302 to /cdn-lfs/{sha256} with
//                                                         X-Linked-Etag, X-Linked-Size
//   GET  {cdnUrl}/cdn-lfs/{sha256}                        the LFS content (Range supported), on a
//                                                         second port: another origin, as the CDN
// A renamed repo answers every route with a relative 307 to the new name. Errors carry
// X-Error-Code: RepoNotFound (401 without a token, 404 with one, as the hub hides private repos),
// RevisionNotFound, EntryNotFound, GatedRepo (401 without a token, 403 with one lacking access);
// an unknown token is a 401 "Invalid credentials in Authorization header".
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';

export interface EmulatedRepoOptions {
  /** Gated: files need a token in `tokens`. */
  gated?: boolean;
  /** Private: everything needs a token in `tokens`. */
  private?: boolean;
  /** Tokens with access to this repo. */
  tokens?: string[];
  /** Tags besides main, all at the one commit. */
  tags?: string[];
}

interface RepoFile {
  content: Buffer;
  oid: string; // git blob sha1
  sha256: string;
  lfs: boolean;
}

interface Repo extends EmulatedRepoOptions {
  files: Map<string, RepoFile>;
  sha: string;
}

export interface LoggedRequest {
  method: string;
  path: string;
  status: number;
  /** True when the answer carried file content (a download). */
  download: boolean;
  /** True when the request carried an Authorization header. */
  authorized: boolean;
}

const LFS = /\.(onnx|onnx_data|data|bin|safetensors)$|_data$/;

function gitOid(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}

function filesOf(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d)) {
      const path = join(d, entry);
      if (statSync(path).isDirectory()) walk(path);
      else files.set(relative(dir, path).split(sep).join('/'), readFileSync(path));
    }
  };
  walk(dir);
  return files;
}

export class HubEmulator {
  readonly requests: LoggedRequest[] = [];
  /** Valid tokens (any repo's `tokens` are added). */
  readonly knownTokens = new Set<string>();
  #repos = new Map<string, Repo>();
  #renamed = new Map<string, string>();
  #drops = new Map<string, number>();
  #stalls = new Map<string, number>();
  #failures = 0;
  #server: Server | undefined;
  #cdn: Server | undefined;
  url = '';
  /** LFS content is served from another origin, as the hub's CDN: clients must not send the token there. */
  cdnUrl = '';

  /** Serves `dir` (or a map of path -> content) as repo `id`. Returns its commit sha. */
  addRepo(id: string, source: string | Record<string, Buffer | string>, options: EmulatedRepoOptions = {}): string {
    const raw = typeof source === 'string' ? filesOf(source) : new Map(Object.entries(source).map(([k, v]) => [k, Buffer.from(v)]));
    const files = new Map<string, RepoFile>();
    for (const [path, content] of [...raw].sort(([a], [b]) => a.localeCompare(b))) {
      files.set(path, { content, oid: gitOid(content), sha256: createHash('sha256').update(content).digest('hex'), lfs: LFS.test(path) });
    }
    const sha = createHash('sha1')
      .update(id)
      .update([...files].map(([p, f]) => `${p}:${f.oid}`).join('\n'))
      .digest('hex');
    for (const t of options.tokens ?? []) this.knownTokens.add(t);
    this.#repos.set(id, { ...options, files, sha });
    return sha;
  }

  /** `oldId` now answers with a relative 307 to `newId`. */
  rename(oldId: string, newId: string): void {
    this.#renamed.set(oldId, newId);
  }

  /** The next `times` downloads of `path` (any repo) send half the file, then drop the connection. */
  dropMidFile(path: string, times: number): void {
    this.#drops.set(path, times);
  }

  /** The next `times` requests of any kind are answered 503 (the hub's "try again later"). */
  failNext(times: number): void {
    this.#failures = times;
  }

  /** The next `times` downloads of `path` send half the file, then nothing more (the connection stays open). */
  stallMidFile(path: string, times: number): void {
    this.#stalls.set(path, times);
  }

  /** Requests to /api/ routes and HEAD requests: what a load asks before downloading. */
  metadataRequests(): LoggedRequest[] {
    return this.requests.filter((r) => r.path.startsWith('/api/') || r.method === 'HEAD');
  }

  downloads(): LoggedRequest[] {
    return this.requests.filter((r) => r.download);
  }

  clearLog(): void {
    this.requests.length = 0;
  }

  async start(): Promise<string> {
    const listen = async (): Promise<[Server, string]> => {
      const server = createServer((req, res) => {
        this.#handle(req, res).catch((error: unknown) => {
          if (!res.headersSent) this.#send(req, res, 500, { error: String(error) });
          else res.destroy();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return [server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`];
    };
    [this.#server, this.url] = await listen();
    [this.#cdn, this.cdnUrl] = await listen();
    return this.url;
  }

  async close(): Promise<void> {
    for (const server of [this.#server, this.#cdn]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  #log(req: IncomingMessage, status: number, download = false): void {
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', status, download, authorized: req.headers.authorization !== undefined });
  }

  #send(req: IncomingMessage, res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    this.#log(req, status);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
    res.end(req.method === 'HEAD' ? undefined : text);
  }

  #error(req: IncomingMessage, res: ServerResponse, status: number, code: string | undefined, message: string): void {
    const headers: Record<string, string> = { 'X-Error-Message': message };
    if (code) headers['X-Error-Code'] = code;
    this.#send(req, res, status, { error: message }, headers);
  }

  async #body(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Sends file content, honouring Range, dropping mid-file when told to. */
  #sendContent(req: IncomingMessage, res: ServerResponse, paths: string[], file: RepoFile, headers: Record<string, string>): void {
    const total = file.content.length;
    let start = 0;
    let end = total - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
    }
    const status = range ? 206 : 200;
    const out: Record<string, string> = {
      ...headers,
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start + 1),
      'Accept-Ranges': 'bytes',
    };
    if (range) out['Content-Range'] = `bytes ${start}-${end}/${total}`;
    res.writeHead(status, out);
    if (req.method === 'HEAD') {
      this.#log(req, status);
      res.end();
      return;
    }
    this.#log(req, status, true);
    const body = file.content.subarray(start, end + 1);
    for (const [faults, stall] of [[this.#drops, false], [this.#stalls, true]] as const) {
      const path = paths.find((p) => (faults.get(p) ?? 0) > 0);
      if (path === undefined || body.length < 2) continue;
      faults.set(path, faults.get(path)! - 1);
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => {
        if (!stall) res.destroy(); // a stalled answer is ended by close()'s closeAllConnections
      });
      return;
    }
    res.end(body);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (this.#failures > 0) {
      this.#failures--;
      return this.#error(req, res, 503, undefined, 'Service Unavailable');
    }
    const path = decodeURIComponent(url.pathname);

    const cdn = /^\/cdn-lfs\/([0-9a-f]{64})$/.exec(path);
    if (cdn) {
      // An LFS object is stored once for every path (and repo) with that content.
      const paths: string[] = [];
      let file: RepoFile | undefined;
      for (const repo of this.#repos.values()) {
        for (const [p, f] of repo.files) {
          if (f.sha256 !== cdn[1]) continue;
          paths.push(p);
          file = f;
        }
      }
      if (!file) return this.#error(req, res, 404, undefined, 'no such object');
      return this.#sendContent(req, res, paths, file, { ETag: `"${file.sha256}"` });
    }

    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree|paths-info)\/([^/]+)(?:\/(.*))?$/.exec(path);
    const resolve = api ? null : /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const id = api?.[1] ?? resolve?.[1];
    if (!id) return this.#error(req, res, 404, undefined, 'Not Found');

    const renamedTo = this.#renamed.get(id);
    if (renamedTo) {
      // The hub's rename redirect is relative: clients must resolve it against the request URL.
      this.#log(req, 307);
      res.writeHead(307, { Location: `${req.url!.replace(`/${id}/`, `/${renamedTo}/`)}`, 'Content-Length': '0' });
      res.end();
      return;
    }

    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (auth !== undefined && !this.knownTokens.has(auth)) {
      return this.#error(req, res, 401, undefined, 'Invalid credentials in Authorization header');
    }
    const repo = this.#repos.get(id);
    const allowed = (r: Repo): boolean => auth !== undefined && (r.tokens ?? []).includes(auth);
    if (!repo || (repo.private && !allowed(repo))) {
      return this.#error(req, res, auth ? 404 : 401, 'RepoNotFound', 'Repository not found');
    }
    const revision = (api?.[3] ?? resolve![2])!;
    if (revision !== 'main' && revision !== repo.sha && !(repo.tags ?? []).includes(revision)) {
      return this.#error(req, res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
    }
    const commitHeaders = { 'X-Repo-Commit': repo.sha };

    if (api) {
      const route = api[2];
      if (route === 'revision') {
        return this.#send(req, res, 200, {
          _id: `id-${repo.sha.slice(0, 24)}`,
          id,
          modelId: id,
          sha: repo.sha,
          lastModified: '2026-01-01T00:00:00.000Z',
          private: Boolean(repo.private),
          gated: repo.gated ? 'auto' : false,
          disabled: false,
          downloads: 0,
          likes: 0,
          tags: [],
          pipeline_tag: 'text-ranking',
          library_name: 'sentence-transformers',
          siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
        });
      }
      const entry = (p: string, f: RepoFile): Record<string, unknown> => ({
        type: 'file',
        oid: f.oid,
        size: f.content.length,
        path: p,
        ...(f.lfs ? { lfs: { oid: f.sha256, size: f.content.length, pointerSize: 134 } } : {}),
      });
      const dirs = (): Set<string> => {
        const all = new Set<string>();
        for (const p of repo.files.keys()) {
          const parts = p.split('/');
          for (let i = 1; i < parts.length; i++) all.add(parts.slice(0, i).join('/'));
        }
        return all;
      };
      if (route === 'tree') {
        const base = api[4] ?? '';
        const recursive = ['1', 'true', 'True'].includes(url.searchParams.get('recursive') ?? '');
        const inBase = (p: string): boolean => (base ? p.startsWith(`${base}/`) : true);
        const depthOk = (p: string): boolean => recursive || !p.slice(base ? base.length + 1 : 0).includes('/');
        const out: Record<string, unknown>[] = [];
        for (const d of dirs()) if (inBase(d) && depthOk(d)) out.push({ type: 'directory', oid: gitOid(Buffer.from(d)), size: 0, path: d });
        for (const [p, f] of repo.files) if (inBase(p) && depthOk(p)) out.push(entry(p, f));
        if (base && out.length === 0) return this.#error(req, res, 404, 'EntryNotFound', `${base} does not exist on "${revision}"`);
        return this.#send(req, res, 200, out);
      }
      // paths-info: @huggingface/hub posts JSON, Python a form.
      const body = await this.#body(req);
      let paths: string[] = [];
      if ((req.headers['content-type'] ?? '').includes('json')) {
        paths = (JSON.parse(body) as { paths: string[] }).paths;
      } else {
        paths = new URLSearchParams(body).getAll('paths');
      }
      const out: Record<string, unknown>[] = [];
      const allDirs = dirs();
      for (const p of paths) {
        const f = repo.files.get(p);
        if (f) out.push(entry(p, f));
        else if (allDirs.has(p)) out.push({ type: 'directory', oid: gitOid(Buffer.from(p)), size: 0, path: p });
      }
      return this.#send(req, res, 200, out);
    }

    // resolve
    const filePath = resolve![3]!;
    if (repo.gated && !allowed(repo)) {
      const message = `Access to model ${id} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
      return this.#error(req, res, auth ? 403 : 401, 'GatedRepo', message);
    }
    const file = repo.files.get(filePath);
    if (!file) return this.#error(req, res, 404, 'EntryNotFound', `${filePath} does not exist on "${revision}"`);
    if (file.lfs) {
      this.#log(req, 302);
      res.writeHead(302, {
        ...commitHeaders,
        Location: `${this.cdnUrl}/cdn-lfs/${file.sha256}`,
        ETag: `"${file.oid}"`,
        'X-Linked-Etag': `"${file.sha256}"`,
        'X-Linked-Size': String(file.content.length),
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    return this.#sendContent(req, res, [filePath], file, { ...commitHeaders, ETag: `"${file.oid}"` });
  }
}
