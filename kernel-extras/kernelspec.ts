/**
 * The `mmkit` kernelspec: where Jupyter looks for it and what it contains.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MmkitError } from '../sdk/errors';
import { MMKIT_VERSION, PACKAGE_ROOT } from '../sdk/version';

export const KERNEL_NAME = 'mmkit';
export const KERNEL_DISPLAY_NAME = 'TypeScript (mmkit)';

export type InstallTarget =
  | { kind: 'user' }
  | { kind: 'sys-prefix' }
  | { kind: 'prefix'; prefix: string };

export interface InstallOptions {
  target: InstallTarget;
  /** The Python whose Jupyter should see the kernel; default: the one running `jupyter` on PATH, else python3. */
  python?: string;
  /** Kernel name (folder name); default "mmkit". */
  name?: string;
}

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: 'signal';
  metadata: { mmkit: { version: string; root: string } };
}

/** The kernelspec that runs this checkout's kernel with this Node and this node_modules. */
export function kernelSpec(): KernelSpec {
  return {
    argv: [process.execPath, path.join(PACKAGE_ROOT, 'dist', 'kernel-extras', 'launch.js'), '--config-path', '{connection_file}'],
    display_name: KERNEL_DISPLAY_NAME,
    language: 'typescript',
    interrupt_mode: 'signal',
    metadata: { mmkit: { version: MMKIT_VERSION, root: PACKAGE_ROOT } },
  };
}

/** The interpreter in the shebang of the first `jupyter*` launcher on PATH: the Jupyter found on this machine. */
export function jupyterPython(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const launcher of ['jupyter', 'jupyter-kernelspec', 'jupyter-execute']) {
      const file = path.join(dir, launcher);
      if (!dir || !existsSync(file)) continue;
      const shebang = /^#!\s*(\S+)/.exec(readFileSync(file, 'utf8').slice(0, 200));
      if (shebang && path.isAbsolute(shebang[1]) && !shebang[1].endsWith('/env')) return shebang[1];
    }
  }
  return undefined;
}

function askPython(python: string, code: string): string | null {
  const run = spawnSync(python, ['-c', code], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : null;
}

/** Jupyter's per-user data dir, as jupyter_core computes it when Python can tell us. */
function userDataDir(python: string): string {
  const fromJupyter = askPython(python, 'from jupyter_core.paths import jupyter_data_dir; print(jupyter_data_dir())');
  if (fromJupyter) return fromJupyter;
  if (process.env.JUPYTER_DATA_DIR) return process.env.JUPYTER_DATA_DIR;
  if (process.platform === 'darwin') return path.join(os.homedir(), 'Library', 'Jupyter');
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? os.homedir(), 'jupyter');
  return path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'jupyter');
}

export function kernelsDir(target: InstallTarget, python = jupyterPython() ?? 'python3'): string {
  switch (target.kind) {
    case 'prefix':
      return path.join(path.resolve(target.prefix), 'share', 'jupyter', 'kernels');
    case 'sys-prefix': {
      const prefix = askPython(python, 'import sys; print(sys.prefix)');
      if (!prefix) {
        throw new MmkitError('BAD_OPTION', `--sys-prefix needs a working Python, and "${python}" could not be run.`, {
          hint: 'Name one with --python <path>, or install with --user or --prefix <dir>.',
        });
      }
      return path.join(prefix, 'share', 'jupyter', 'kernels');
    }
    case 'user':
      return path.join(userDataDir(python), 'kernels');
  }
}

export interface InstallResult {
  dir: string;
  changed: boolean;
}

/** Writes <kernels>/<name>/kernel.json; running it again with the same checkout changes nothing. */
export function installKernelSpec(options: InstallOptions): InstallResult {
  const launcher = kernelSpec().argv[1];
  if (!existsSync(launcher)) {
    throw new MmkitError('FILE_NOT_FOUND', `The kernel launcher ${launcher} is missing.`, {
      file: launcher,
      hint: 'Run `npm run build` first.',
    });
  }
  const dir = path.join(kernelsDir(options.target, options.python), options.name ?? KERNEL_NAME);
  const file = path.join(dir, 'kernel.json');
  const text = JSON.stringify(kernelSpec(), null, 2) + '\n';
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return { dir, changed: false };
  try {
    mkdirSync(dir, { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, text);
    renameSync(partial, file);
  } catch (cause) {
    throw new MmkitError('WRITE_FAILED', `Could not write the kernelspec ${file}.`, {
      file,
      cause,
      hint: 'Check permissions, or choose another place with --user or --prefix <dir>.',
    });
  }
  return { dir, changed: true };
}
