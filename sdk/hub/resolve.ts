import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MmkitError } from '../errors';
import { RepoCache } from './cache';
import { contentId, downloadTo, headFile, resolveUrl, verifyDownload, type FileMeta, type HubContext } from './http';
import { withFileLock } from './lock';
import { externalDataFiles, id2labelOf } from './model-files';
import { parseHubRef } from './ref';
import { hubSettings, type HubOptions } from './settings';

export interface ResolveHubOptions extends HubOptions {
  /** Branch, tag or commit; overrides the @revision of the reference. Default `main`. */
  revision?: string;
  /**
   * Ask the hub whether the revision moved even when the cache has a complete copy.
   * Default false: a cached revision is used without contacting the hub (fast and reproducible).
   */
  refresh?: boolean;
  /** Download progress of one file: bytes on disk so far (a resumed part included) and its size when known. */
  onProgress?: (bytes: number, total: number | undefined, file: string) => void;
  signal?: AbortSignal;
}

export interface ResolvedHubModel {
  repo: string;
  /** The ONNX file's path inside the repo (onnx/model.onnx). */
  file: string;
  /** Local paths, inside the cache's snapshot of the commit. */
  modelPath: string;
  externalDataPaths: string[];
  configPath?: string;
  preprocessorPath?: string;
  tokenizerPath?: string;
  tokenizerConfigPath?: string;
  config?: Record<string, unknown>;
  preprocessorConfig?: Record<string, unknown>;
  id2label?: Record<number, string>;
  /** The commit hash the revision resolved to (the revision itself for servers that do not say). */
  revision: string;
  /** sha256 of the ONNX file, for recipes to pin (LFS blobs are named by it; others are hashed). */
  modelSha256: string;
  /** True when nothing was asked of the hub. */
  fromCache: boolean;
}

/** Files read beside the model when the repo has them. */
const SIDE_FILES = {
  configPath: 'config.json',
  preprocessorPath: 'preprocessor_config.json',
  tokenizerPath: 'tokenizer.json',
  tokenizerConfigPath: 'tokenizer_config.json',
} as const;
type SidePaths = { -readonly [K in keyof typeof SIDE_FILES]?: string };

interface Located extends SidePaths {
  modelPath: string;
  externalDataPaths: string[];
  commit: string;
}

/**
 * Fetches `hf:org/repo[@revision][:variant]` — the ONNX file, its external data, config.json,
 * preprocessor_config.json and the tokenizer files — into the hub cache and returns their
 * local paths. Offline (HF_HUB_OFFLINE or { offline: true }) only the cache is used.
 */
export async function resolveHubModel(ref: string, opts: ResolveHubOptions = {}): Promise<ResolvedHubModel> {
  const hubRef = parseHubRef(ref);
  const settings = hubSettings(opts);
  const revision = opts.revision ?? hubRef.revision ?? 'main';
  const cache = new RepoCache(settings.cacheDir, hubRef.repo);
  let located: Located | undefined;
  let fromCache = false;
  if (settings.offline || !opts.refresh) {
    located = await fromCacheOnly(cache, revision, hubRef.modelFile, settings.offline);
    fromCache = located !== undefined;
  }
  if (!located && settings.offline) {
    throw new MmkitError('FETCH_FAILED', `Offline, and ${hubRef.modelFile} of ${hubRef.repo}@${revision} is not in the cache (${cache.dir}).`, {
      file: hubRef.modelFile,
      hint: 'Run once online (unset HF_HUB_OFFLINE, or pass offline: false) to download it, or point HF_HOME / the cacheDir option at a cache that has it.',
    });
  }
  located ??= await download(cache, { endpoint: settings.endpoint, repo: hubRef.repo, revision, token: settings.token, signal: opts.signal }, hubRef.modelFile, opts.onProgress);
  const config = located.configPath ? await readJson(located.configPath) : undefined;
  const preprocessorConfig = located.preprocessorPath ? await readJson(located.preprocessorPath) : undefined;
  const { commit, ...paths } = located;
  const modelSha256 = await sha256Of(located.modelPath);
  return { repo: hubRef.repo, file: hubRef.modelFile, ...paths, config, preprocessorConfig, id2label: id2labelOf(config), revision: commit, modelSha256, fromCache };
}

/**
 * A complete copy from the cache, or undefined. Online, a side file never asked for sends us to
 * the hub; offline it is simply absent.
 */
async function fromCacheOnly(cache: RepoCache, revision: string, modelFile: string, offline: boolean): Promise<Located | undefined> {
  const commit = await cache.commitFor(revision);
  if (!commit) return undefined;
  const model = await cache.lookup(commit, modelFile);
  if (model.state !== 'present') return undefined;
  const located: Located = { modelPath: model.path, externalDataPaths: [], commit };
  for (const [key, file] of Object.entries(SIDE_FILES) as [keyof SidePaths, string][]) {
    const side = await cache.lookup(commit, file);
    if (side.state === 'present') located[key] = side.path;
    else if (side.state === 'unknown' && !offline) return undefined;
  }
  for (const file of await externalDataFiles(model.path, modelFile)) {
    const data = await cache.lookup(commit, file);
    if (data.state !== 'present') {
      if (!offline) return undefined;
      throw new MmkitError('FETCH_FAILED', `Offline, and the external data ${file} of ${modelFile} is not in the cache (${cache.dir}).`, {
        file,
        hint: 'Run once online to complete the download, or unset HF_HUB_OFFLINE.',
      });
    }
    located.externalDataPaths.push(data.path);
  }
  return located;
}

async function download(cache: RepoCache, ctx: HubContext, modelFile: string, onProgress: ResolveHubOptions['onProgress']): Promise<Located> {
  const modelMeta = await headFile(resolveUrl(ctx, modelFile), ctx, true);
  const commit = modelMeta.commit ?? ctx.revision;
  // Every other file comes from the same commit, even if the branch moves meanwhile.
  const pinned: HubContext = modelMeta.commit ? { ...ctx, revision: commit } : ctx;
  const fetchOne = (file: string, meta: FileMeta): Promise<string> => fetchFile(cache, pinned, commit, file, meta, onProgress);
  const located: Located = { modelPath: await fetchOne(modelFile, modelMeta), externalDataPaths: [], commit };
  for (const [key, file] of Object.entries(SIDE_FILES) as [keyof SidePaths, string][]) {
    const side = await headFile(resolveUrl(pinned, file), pinned, false);
    if (side) located[key] = await fetchOne(file, side);
    else await cache.markMissing(commit, file);
  }
  for (const file of await externalDataFiles(located.modelPath, modelFile)) {
    located.externalDataPaths.push(await fetchOne(file, await headFile(resolveUrl(pinned, file), pinned, true)));
  }
  await cache.writeRef(ctx.revision, commit);
  return located;
}

const SAFE_BLOB_NAME = /^[A-Za-z0-9._-]+$/;

/** One file into blobs/ (resuming a partial download) and linked into the commit's snapshot. */
async function fetchFile(cache: RepoCache, ctx: HubContext, commit: string, file: string, meta: FileMeta, onProgress: ResolveHubOptions['onProgress']): Promise<string> {
  const cached = await cache.lookup(commit, file);
  if (cached.state === 'present' && (meta.size === undefined || (await fs.stat(cached.path)).size === meta.size)) return cached.path;
  const url = resolveUrl(ctx, file);
  const etag = meta.etag && SAFE_BLOB_NAME.test(meta.etag) ? meta.etag : undefined;
  const haveBlob = async (): Promise<boolean> => etag !== undefined && (await fs.stat(cache.blobPath(etag)).catch(() => undefined)) !== undefined;
  if (await haveBlob()) return cache.link(commit, file, etag!);
  // Without an ETag the blob is named by its sha256 once complete; the partial file by its URL.
  const key = cache.blobPath(etag ?? `download-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
  await fs.mkdir(cache.blobPath(''), { recursive: true });
  const name = await withFileLock(
    `${key}.lock`,
    async () => {
      if (await haveBlob()) return etag!; // another download finished it while we waited
      const part = `${key}.incomplete`;
      await downloadTo(part, url, ctx, meta.size, (bytes) => onProgress?.(bytes, meta.size, file));
      await verifyDownload(part, url, meta);
      const blob = etag ?? (await contentId(part, 'sha256'));
      await fs.rename(part, cache.blobPath(blob));
      return blob;
    },
    ctx.signal,
  );
  return cache.link(commit, file, name);
}

/** A snapshot file's sha256: the name of the blob it links to when that is one (verified on download), else hashed. */
async function sha256Of(snapshotFile: string): Promise<string> {
  const target = await fs.readlink(snapshotFile).catch(() => undefined);
  const blob = target === undefined ? undefined : path.basename(target);
  if (blob && /^[0-9a-f]{64}$/.test(blob)) return blob;
  return contentId(snapshotFile, 'sha256');
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    throw new Error('not a JSON object');
  } catch (e) {
    throw new MmkitError('BAD_MODEL', `${file} is not a valid JSON object (${(e as Error).message}).`, { file, hint: 'Delete it from the cache and fetch again.' });
  }
}
