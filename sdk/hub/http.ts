import { createWriteStream, promises as fs } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { MmkitError } from '../errors';
import { hashFile } from '../hash-file';
import { cancelled, isAbort, refused, unreachable } from './errors';

/** What one request to the hub needs besides the URL. */
export interface HubContext {
  endpoint: string;
  repo: string;
  revision: string;
  token?: string;
  signal?: AbortSignal;
}

/** What the hub says about a file before it is downloaded. */
export interface FileMeta {
  /** The commit the revision resolved to (X-Repo-Commit). */
  commit?: string;
  /** Content id: sha256 for LFS files, git blob sha1 for others; undefined for plain servers. */
  etag?: string;
  size?: number;
}

/** {endpoint}/{repo}/resolve/{revision}/{path}: the hub's download URL layout. */
export function resolveUrl(ctx: HubContext, file: string): string {
  return `${ctx.endpoint}/${ctx.repo}/resolve/${encodeURIComponent(ctx.revision)}/${file.split('/').map(encodeURIComponent).join('/')}`;
}

function headers(ctx: HubContext, extra: Record<string, string> = {}): Record<string, string> {
  return { 'accept-encoding': 'identity', 'user-agent': 'mmkit', ...(ctx.token ? { authorization: `Bearer ${ctx.token}` } : {}), ...extra };
}

async function request(url: string, init: RequestInit, ctx: HubContext): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: ctx.signal });
  } catch (e) {
    if (isAbort(e)) throw cancelled(url, e);
    throw unreachable(url, ctx.endpoint, e);
  }
}

function cleanEtag(raw: string | null): string | undefined {
  if (!raw) return undefined;
  return raw.replace(/^W\//, '').replace(/"/g, '') || undefined;
}

function metaOf(res: Response): FileMeta {
  const size = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
  return {
    commit: res.headers.get('x-repo-commit') ?? undefined,
    // LFS files redirect to storage; the hub puts their sha256 in X-Linked-Etag on the redirect.
    etag: cleanEtag(res.headers.get('x-linked-etag') ?? res.headers.get('etag')),
    size: size === null ? undefined : Number(size),
  };
}

/**
 * Asks the hub about a file without downloading it. Redirects to storage are not followed (the
 * metadata is on the redirect itself); same-host redirects (a renamed repo) are.
 * A 404 is undefined when the file is optional, an error when it is required.
 */
export async function headFile(url: string, ctx: HubContext, required: true): Promise<FileMeta>;
export async function headFile(url: string, ctx: HubContext, required: false): Promise<FileMeta | undefined>;
export async function headFile(url: string, ctx: HubContext, required: boolean): Promise<FileMeta | undefined> {
  let target = url;
  for (let hop = 0; hop < 5; hop++) {
    const res = await request(target, { method: 'HEAD', redirect: 'manual', headers: headers(ctx) }, ctx);
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      const next = location ? new URL(location, target) : undefined;
      if (next && !res.headers.get('x-linked-etag') && next.origin === new URL(target).origin) {
        target = next.href;
        continue;
      }
      return metaOf(res);
    }
    if (res.ok) return metaOf(res);
    if (res.status === 404 && !required) return undefined;
    throw refused(url, res, ctx.repo, ctx.revision, ctx.token !== undefined);
  }
  throw new MmkitError('FETCH_FAILED', `${url} redirects more than 5 times.`, { file: url, hint: 'Check HF_ENDPOINT: it should point at the hub itself.' });
}

/**
 * Streams a file to `part`, resuming from what `part` already holds with a Range request.
 * Bytes go straight to disk; the partial file stays behind on failure or cancellation.
 * `onBytes` gets the bytes on disk so far, resumed part included.
 */
export async function downloadTo(part: string, url: string, ctx: HubContext, expectedSize: number | undefined, onBytes: (bytes: number) => void): Promise<void> {
  let have = (await fs.stat(part).catch(() => undefined))?.size ?? 0;
  if (expectedSize !== undefined && have > expectedSize) have = 0;
  if (expectedSize !== undefined && have === expectedSize) return;
  const res = await request(url, { headers: headers(ctx, have > 0 ? { range: `bytes=${have}-` } : {}) }, ctx);
  if (res.status === 206) {
    const start = Number(/bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1]);
    if (start !== have) throw new MmkitError('FETCH_FAILED', `${url} answered a resume from byte ${have} with a range starting at ${start}.`, { file: url, hint: 'Delete the .incomplete file in the cache and try again.' });
  } else if (res.ok) {
    have = 0; // the server ignored Range: start over
  } else {
    await res.body?.cancel();
    throw refused(url, res, ctx.repo, ctx.revision, ctx.token !== undefined);
  }
  if (!res.body) throw new MmkitError('FETCH_FAILED', `${url} answered without a body.`, { file: url, hint: 'Check that HF_ENDPOINT points at a hub.' });
  let done = have;
  onBytes(done);
  const count = new Transform({
    transform(chunk: Buffer, _enc, next) {
      done += chunk.length;
      onBytes(done);
      next(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), count, createWriteStream(part, { flags: have > 0 ? 'a' : 'w' }), { signal: ctx.signal });
  } catch (e) {
    if (isAbort(e)) throw cancelled(url, e);
    throw new MmkitError('FETCH_FAILED', `Download of ${url} broke off after ${done} bytes (${(e as Error).message}).`, {
      file: url,
      hint: 'Run it again: the download resumes where it stopped.',
      cause: e,
    });
  }
}

/** sha256 (LFS ETags) or git blob sha1 (ETags of small git files) of a file, streamed. */
export async function contentId(file: string, kind: 'sha256' | 'git-sha1'): Promise<string> {
  if (kind === 'sha256') return hashFile(file);
  return hashFile(file, 'sha1', `blob ${(await fs.stat(file)).size}\0`);
}

/** Checks a downloaded file against the hub's size and ETag; a bad file is deleted. */
export async function verifyDownload(part: string, url: string, meta: FileMeta): Promise<void> {
  const size = (await fs.stat(part)).size;
  const fail = async (why: string): Promise<never> => {
    await fs.rm(part, { force: true });
    throw new MmkitError('FETCH_FAILED', `Download of ${url} is corrupt: ${why}.`, { file: url, hint: 'It was deleted; run again to download it afresh.' });
  };
  if (meta.size !== undefined && size !== meta.size) await fail(`got ${size} bytes, the hub announced ${meta.size}`);
  const kind = /^[0-9a-f]{64}$/.test(meta.etag ?? '') ? 'sha256' : /^[0-9a-f]{40}$/.test(meta.etag ?? '') ? 'git-sha1' : undefined;
  if (kind) {
    const actual = await contentId(part, kind);
    if (actual !== meta.etag) await fail(`its ${kind} is ${actual}, the hub's ETag is ${meta.etag}`);
  }
}
