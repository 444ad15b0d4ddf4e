/**
 * A real HTTP server on 127.0.0.1 that serves Hugging Face's download layout for the hub tests:
 * `/{org}/{name}/resolve/{revision}/{path}`, with X-Repo-Commit, git-sha1 ETags for small files,
 * 302 redirects with X-Linked-Etag / X-Linked-Size for LFS files (.onnx, .onnx_data), Range
 * requests, hub error codes and private repos. It logs every request and the body bytes it sent.
 * Not a test file itself.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HubRepo {
  commit: string;
  files: Record<string, Uint8Array>;
  /** A token that must come as `Authorization: Bearer <token>`. */
  token?: string;
}

export interface RequestRecord {
  method: string;
  path: string;
  range?: string;
  status: number;
  bodyBytes: number;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (file: string): boolean => /\.onnx(_data)?$/.test(file);

export class LocalHub {
  readonly log: RequestRecord[] = [];
  private readonly repos = new Map<string, HubRepo>();
  private readonly lfs = new Map<string, Uint8Array>();
  private server?: http.Server;

  /** When set, LFS bodies are sent through it: a storage backend serving damaged files. */
  tamper?: (bytes: Uint8Array) => Uint8Array;

  /** A plain static mirror: no X-Repo-Commit, no ETags, no LFS redirects. */
  plain = false;

  /** Bytes are sent in chunks of this size with a pause between them, so downloads can be cut mid-way. */
  chunkSize = 16 * 1024;

  addRepo(name: string, repo: HubRepo): void {
    this.repos.set(name, repo);
    for (const [file, bytes] of Object.entries(repo.files)) if (isLfs(file)) this.lfs.set(sha256(bytes), bytes);
  }

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((done) => this.server!.listen(0, '127.0.0.1', done));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((done) => this.server?.close(() => done()) ?? done());
  }

  /** Requests whose path contains `part`. */
  requests(part = ''): RequestRecord[] {
    return this.log.filter((r) => r.path.includes(part));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const record: RequestRecord = { method: req.method ?? 'GET', path: decodeURIComponent(url.pathname), range: req.headers.range, status: 0, bodyBytes: 0 };
    this.log.push(record);
    const reply = (status: number, headers: Record<string, string> = {}): void => {
      record.status = status;
      res.writeHead(status, headers);
      res.end();
    };
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (lfs) {
      const bytes = this.lfs.get(lfs[1]);
      return bytes ? this.send(req, res, record, this.tamper ? this.tamper(bytes) : bytes, { etag: `"${lfs[1]}"` }) : reply(404);
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m) return reply(404);
    const [, repoName, revision, file] = m.map(decodeURIComponent);
    const repo = this.repos.get(repoName);
    if (!repo) return reply(404, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' });
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return reply(401, { 'x-error-code': 'GatedRepo' });
    if (revision !== 'main' && revision !== repo.commit) return reply(404, { 'x-error-code': 'RevisionNotFound' });
    const bytes = repo.files[file];
    if (this.plain) return bytes ? this.send(req, res, record, bytes, {}) : reply(404);
    const commit = { 'x-repo-commit': repo.commit };
    if (!bytes) return reply(404, { ...commit, 'x-error-code': 'EntryNotFound', 'x-error-message': 'Entry not found' });
    if (isLfs(file)) {
      return reply(302, { ...commit, location: `/lfs/${sha256(bytes)}`, 'x-linked-etag': `"${sha256(bytes)}"`, 'x-linked-size': String(bytes.length) });
    }
    return this.send(req, res, record, bytes, { ...commit, etag: `"${gitSha1(bytes)}"` });
  }

  private async send(req: http.IncomingMessage, res: http.ServerResponse, record: RequestRecord, bytes: Uint8Array, headers: Record<string, string>): Promise<void> {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const body = bytes.subarray(start);
    record.status = range ? 206 : 200;
    res.writeHead(record.status, {
      ...headers,
      'content-length': String(body.length),
      'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    for (let o = 0; o < body.length && !res.destroyed; o += this.chunkSize) {
      const chunk = body.subarray(o, o + this.chunkSize);
      res.write(chunk);
      record.bodyBytes += chunk.length;
      await new Promise((r) => setTimeout(r, 2));
    }
    res.end();
  }
}
