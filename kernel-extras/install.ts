/**
 * `npm run kernel:install -- [--user | --sys-prefix | --prefix <dir>] [--python <exe>] [--name <name>]`
 * registers the mmkit kernel with Jupyter (default: the per-user data dir of python3's Jupyter).
 */
import { isMmkitError } from '../sdk/errors';
import { installKernelSpec, type InstallOptions } from './kernelspec';

function parseArgs(args: readonly string[]): InstallOptions {
  const options: InstallOptions = { target: { kind: 'user' } };
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--user':
        options.target = { kind: 'user' };
        break;
      case '--sys-prefix':
        options.target = { kind: 'sys-prefix' };
        break;
      case '--prefix':
        options.target = { kind: 'prefix', prefix: value() };
        break;
      case '--python':
        options.python = value();
        break;
      case '--name':
        options.name = value();
        break;
      default:
        throw new Error(`unknown option ${args[i]}`);
    }
  }
  return options;
}

function main(): void {
  let options: InstallOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`kernel:install: ${(e as Error).message}\nusage: kernel:install [--user | --sys-prefix | --prefix <dir>] [--python <exe>] [--name <name>]\n`);
    process.exit(2);
  }
  try {
    const { dir, changed } = installKernelSpec(options);
    process.stdout.write(`${changed ? 'Installed' : 'Already installed:'} kernelspec in ${dir}\n`);
  } catch (e) {
    process.stderr.write(`kernel:install: ${isMmkitError(e) ? e.message : String(e)}\n`);
    process.exit(1);
  }
}

main();
