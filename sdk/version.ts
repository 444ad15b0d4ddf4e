import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';

/** The project root: the nearest folder above this module whose package.json is mmkit's (works from sdk/ and dist/sdk/). */
export const PACKAGE_ROOT: string = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mmkit') return dir;
    if (path.dirname(dir) === dir) throw new Error(`mmkit: cannot find its package.json above ${__dirname}`);
  }
})();

export const MMKIT_VERSION: string = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
