/**
 * The mmkit kernel: tslab with kernel-extras' protocol fixes and display bridge, started
 * from this package's own node_modules. Jupyter runs it as
 *   node dist/kernel-extras/launch.js --config-path {connection_file}
 */
import { MMKIT_VERSION } from '../sdk/version';
import { applyProtocolFixes } from './protocol-fixes';
import { mapOwnPackageName, resolveOwnPackageAnywhere } from './self-reference';
import { loadTslab } from './tslab-internals';

function connectionFileOf(argv: readonly string[]): string {
  const at = argv.indexOf('--config-path');
  const file = at >= 0 ? argv[at + 1] : argv.find((arg) => arg.startsWith('--config-path='))?.slice('--config-path='.length);
  if (!file) {
    process.stderr.write('usage: node dist/kernel-extras/launch.js --config-path <connection file>\n');
    process.exit(2);
  }
  return file;
}

/**
 * Exits when the process that started the kernel is gone (we were re-parented), as
 * ipykernel's parent poller does, so a crashed frontend or runner leaves no kernel behind.
 */
function exitWithParent(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 2000).unref();
}

function main(): void {
  const configPath = connectionFileOf(process.argv.slice(2));
  const tslab = loadTslab();
  applyProtocolFixes(tslab, { mmkitVersion: MMKIT_VERSION });
  mapOwnPackageName(tslab.typescript, process.cwd());
  resolveOwnPackageAnywhere();
  // enableFindLocal would switch to a tslab found above the notebook's folder; a second
  // copy of tslab breaks display, so this kernel always runs the one it patched.
  exitWithParent();
  tslab.main.startKernel({ configPath, enableFindLocal: false, jsKernel: false, globalVersion: tslab.version });
}

main();
