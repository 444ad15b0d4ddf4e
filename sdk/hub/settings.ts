import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

export interface HubOptions {
  /** Hub base URL; default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Cache folder (the hub layout: models--org--name/...); see hubSettings for the default. */
  cacheDir?: string;
  /** Use cached files only, never the network; default HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Access token for private or gated repos; default HF_TOKEN, else the token file `huggingface-cli login` wrote. */
  token?: string;
}

export interface HubSettings {
  endpoint: string;
  cacheDir: string;
  offline: boolean;
  token?: string;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());
}

/**
 * Options filled in from the environment the way the Hugging Face tools read it, so that a
 * cache and login shared with Python just work. The cache is HF_HUB_CACHE, else HF_HOME/hub,
 * else the standard huggingface cache when it exists, else mmkit's own (~/.cache/mmkit/hub).
 */
export function hubSettings(opts: HubOptions = {}, env: NodeJS.ProcessEnv = process.env): HubSettings {
  const cacheRoot = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const hfHome = env.HF_HOME || path.join(cacheRoot, 'huggingface');
  const cacheDir =
    opts.cacheDir ??
    (env.HF_HUB_CACHE ||
      (env.HF_HOME || fs.existsSync(hfHome) ? path.join(hfHome, 'hub') : path.join(cacheRoot, 'mmkit', 'hub')));
  return {
    endpoint: (opts.endpoint ?? (env.HF_ENDPOINT || DEFAULT_ENDPOINT)).replace(/\/+$/, ''),
    cacheDir: path.resolve(cacheDir),
    offline: opts.offline ?? truthy(env.HF_HUB_OFFLINE),
    token: opts.token ?? (env.HF_TOKEN || readTokenFile(path.join(hfHome, 'token'))),
  };
}

function readTokenFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
