/**
 * Lets notebooks inside this repository `import { mm } from 'mmkit'`. Node resolves the
 * package's own name from inside it (self-reference through "exports"), but tslab type-checks
 * cells with Node10 module resolution, which knows no self-reference and reports "Cannot find
 * module 'mmkit'". tslab solves the same problem for `tslab` by forwarding a virtual
 * node_modules/tslab to its own folder; this does the same for <root>/node_modules/mmkit.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../sdk/version';
import type { TslabModules } from './tslab-internals';

const VIRTUAL_ROOT = path.join(PACKAGE_ROOT, 'node_modules', 'mmkit');

export function isInsidePackage(dir: string): boolean {
  const relative = path.relative(PACKAGE_ROOT, dir);
  return !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** The real path behind a path under the virtual <root>/node_modules/mmkit. */
function forward(file: string): string {
  const relative = path.relative(VIRTUAL_ROOT, file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : path.join(PACKAGE_ROOT, relative);
}

/** Makes the compiler's file system see this package as <root>/node_modules/mmkit. */
export function mapOwnPackageName(typescript: TslabModules['typescript']): void {
  if (existsSync(VIRTUAL_ROOT)) return;
  const sys = typescript.sys;
  const { fileExists, directoryExists, readFile } = sys;
  sys.fileExists = (file) => fileExists.call(sys, forward(file));
  sys.directoryExists = (dir) => directoryExists.call(sys, forward(dir));
  sys.readFile = (file, encoding) => readFile.call(sys, forward(file), encoding);
}
