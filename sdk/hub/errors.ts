import { MmkitError, messageOf } from '../errors';

const OFFLINE_HINT = 'set HF_ENDPOINT (or the endpoint option) to a hub or mirror you can reach, or go offline with HF_HUB_OFFLINE=1 (or { offline: true }) to use files already in the cache.';

/** The hub could not be reached at all (refused, DNS, TLS, reset). */
export function unreachable(url: string, endpoint: string, cause: unknown): MmkitError {
  const reason = (cause as { cause?: { code?: string; message?: string } }).cause;
  const why = reason?.code ?? reason?.message ?? messageOf(cause);
  return new MmkitError('FETCH_FAILED', `Cannot reach the model hub at ${endpoint} (${url}: ${why}).`, {
    file: url,
    hint: `Check the network, or ${OFFLINE_HINT}`,
    cause,
  });
}

/** The hub answered, but not with the file. */
export function refused(url: string, res: Response, repo: string, revision: string, hadToken: boolean): MmkitError {
  const code = res.headers.get('x-error-code') ?? '';
  const detail = res.headers.get('x-error-message');
  const said = `${url} answered ${res.status}${code ? ` (${code})` : ''}${detail ? `: ${detail}` : ''}.`;
  if (res.status === 401 || res.status === 403) {
    return new MmkitError('FETCH_FAILED', `Access to ${repo} was refused: ${said}`, {
      file: url,
      hint: hadToken
        ? `The token in use cannot read ${repo}: check it has read access (and that you accepted the repo's terms if it is gated).`
        : `The repo is private or gated: log in by setting HF_TOKEN (or the token option) to an access token that can read ${repo}.`,
    });
  }
  if (res.status === 404) {
    const hint =
      code === 'RepoNotFound'
        ? `Check the repo name '${repo}' (org/name, as on the hub), or log in if it is private.`
        : code === 'RevisionNotFound'
          ? `Check the revision '${revision}': a branch, tag or commit hash of ${repo}.`
          : `Check the repo '${repo}', the revision '${revision}' and the variant: hf:org/repo:model_quantized means onnx/model_quantized.onnx, and a variant ending in .onnx is a path in the repo (hf:org/repo:model.onnx).`;
    return new MmkitError('FETCH_FAILED', `Not found on the hub: ${said}`, { file: url, hint });
  }
  return new MmkitError('FETCH_FAILED', `The hub failed to serve a file: ${said}`, {
    file: url,
    hint: `Try again later, or ${OFFLINE_HINT}`,
  });
}

export function cancelled(url: string, cause: unknown): MmkitError {
  return new MmkitError('CANCELLED', `Download of ${url} was cancelled; the part already fetched is kept and the next call resumes it.`, { file: url, cause });
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || (e.name === 'TypeError' && (e.cause as Error | undefined)?.name === 'AbortError'));
}
