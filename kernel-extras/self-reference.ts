/**
 * Lets notebooks anywhere on disk `import { mm } from 'mmkit'` in the mmkit kernel. Inside this
 * repository Node resolves the package's own name (self-reference through "exports"); elsewhere
 * nothing named mmkit is installed. Two resolvers need it:
 * - tslab type-checks cells with Node10 module resolution, which knows no self-reference and
 *   reports "Cannot find module 'mmkit'". tslab solves the same problem for `tslab` by forwarding
 *   a virtual node_modules/tslab to its own folder; this forwards <notebook folder>/node_modules/mmkit.
 * - the compiled cell's require('mmkit'): where Node finds no mmkit, it resolves from this package.
 * A folder that has its own node_modules/mmkit (a project depending on mmkit) keeps it.
 */
import { existsSync } from 'node:fs';
import Module from 'node:module';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../sdk/version';
import type { TslabModules } from './tslab-internals';

const OWN_NAME = /^mmkit(\/|$)/;

/** Makes the compiler's file system see this package as <dir>/node_modules/mmkit. */
export function mapOwnPackageName(typescript: TslabModules['typescript'], dir: string): void {
  const virtualRoot = path.join(dir, 'node_modules', 'mmkit');
  if (existsSync(virtualRoot)) return;
  /** The real path behind a path under the virtual folder. */
  const forward = (file: string): string => {
    const relative = path.relative(virtualRoot, file);
    return relative.startsWith('..') || path.isAbsolute(relative) ? file : path.join(PACKAGE_ROOT, relative);
  };
  const sys = typescript.sys;
  const { fileExists, directoryExists, readFile } = sys;
  sys.fileExists = (file) => fileExists.call(sys, forward(file));
  sys.directoryExists = (dir) => directoryExists.call(sys, forward(dir));
  sys.readFile = (file, encoding) => readFile.call(sys, forward(file), encoding);
}

type ResolveFilename = (request: string, parent: unknown, ...rest: unknown[]) => string;

/** Where Node finds no 'mmkit' (or 'mmkit/…'), resolves it as this package does for itself. */
export function resolveOwnPackageAnywhere(): void {
  const internals = Module as unknown as { _resolveFilename: ResolveFilename };
  const original = internals._resolveFilename;
  internals._resolveFilename = function (this: unknown, request, parent, ...rest) {
    try {
      return original.call(this, request, parent, ...rest);
    } catch (e) {
      if (!OWN_NAME.test(request)) throw e;
      return require.resolve(request, { paths: [PACKAGE_ROOT] });
    }
  };
}
