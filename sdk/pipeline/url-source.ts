import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MmkitError, messageOf } from '../errors';
import { downloadTo, type HubContext } from '../hub/http';
import { externalDataFiles } from '../hub/model-files';
import { withFileLock } from '../hub/lock';

export interface UrlSourceOptions {
  /** Where downloads are kept (default ~/.cache/mmkit/url, or $MMKIT_CACHE/url). */
  cacheDir?: string;
  signal?: AbortSignal;
  onProgress?: (bytes: number, total?: number, file?: string) => void;
}

function cacheFolder(url: URL, opts: UrlSourceOptions): string {
  const root = opts.cacheDir ?? path.join(process.env.MMKIT_CACHE ?? path.join(os.homedir(), '.cache', 'mmkit'), 'url');
  // One folder per model URL's directory, so external data files land beside their model.
  const key = createHash('sha256').update(new URL('.', url).href).digest('hex').slice(0, 24);
  return path.join(root, key);
}

/** Size the server announces, or undefined; a clear error when the URL does not serve the file. */
async function probe(url: string, signal?: AbortSignal): Promise<number | undefined> {
  let res: Response;
  try {
    res = await fetch(url, { method: 'HEAD', signal, headers: { 'accept-encoding': 'identity', 'user-agent': 'mmkit' } });
  } catch (e) {
    throw new MmkitError('FETCH_FAILED', `Cannot reach ${url} (${messageOf((e as { cause?: unknown }).cause ?? e)}).`, { file: url, hint: 'Check the address and the network, or download the model and pass its file path.', cause: e });
  }
  if (!res.ok) {
    throw new MmkitError('FETCH_FAILED', `${url} answered ${res.status} ${res.statusText}.`, { file: url, hint: res.status === 404 ? 'Check the address of the model.' : 'Check access to the server, or download the model and pass its file path.' });
  }
  const size = res.headers.get('content-length');
  return size === null ? undefined : Number(size);
}

async function fetchInto(url: string, file: string, opts: UrlSourceOptions): Promise<void> {
  const size = await probe(url, opts.signal);
  const have = await fsp.stat(file).catch(() => undefined);
  if (have && size !== undefined && have.size === size) return;
  await withFileLock(`${file}.lock`, async () => {
    const part = `${file}.incomplete`;
    const ctx: HubContext = { endpoint: new URL(url).origin, repo: url, revision: '', signal: opts.signal };
    await downloadTo(part, url, ctx, size, (bytes) => opts.onProgress?.(bytes, size, path.basename(file)));
    const got = (await fsp.stat(part)).size;
    if (size !== undefined && got !== size) {
      throw new MmkitError('FETCH_FAILED', `Download of ${url} ended at ${got} of ${size} bytes.`, { file: url, hint: 'Run it again: the download resumes where it stopped.' });
    }
    await fsp.rename(part, file);
  }, opts.signal);
}

/**
 * Downloads a model (and the external data files it names) from an http(s) URL into the
 * cache, streaming to disk and resuming partial downloads; returns the local model path.
 * A cached copy whose size still matches what the server announces is reused.
 */
export async function downloadModelUrl(uri: string, opts: UrlSourceOptions = {}): Promise<string> {
  const url = new URL(uri);
  const dir = cacheFolder(url, opts);
  await fsp.mkdir(dir, { recursive: true });
  const name = decodeURIComponent(path.posix.basename(url.pathname)) || 'model.onnx';
  const modelPath = path.join(dir, name);
  await fetchInto(url.href, modelPath, opts);
  for (const rel of await externalDataFiles(modelPath, name)) {
    await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await fetchInto(new URL(rel, url).href, path.join(dir, rel), opts);
  }
  return modelPath;
}
