/**
 * `npm run notebook -- <file.ipynb> [--param key=value ...] [--out dir] [--timeout seconds]`
 * runs a notebook headless in the mmkit kernel (no Python needed) and exits non-zero when a
 * cell errors or does not run.
 */
import { isMmkitError } from '../sdk/errors';
import { parseParameter, type ParameterValue } from './runner/notebook';
import { runNotebook, type RunOptions } from './runner/run-notebook';

const USAGE = 'usage: notebook <file.ipynb> [--param key=value ...] [--out dir] [--timeout seconds]';

function parseArgs(args: readonly string[]): { file: string; options: RunOptions } {
  const parameters: Record<string, ParameterValue> = {};
  const options: RunOptions = { parameters };
  let file: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].startsWith('--') ? args[i].split(/=(.*)/s, 2) : [args[i], undefined];
    const value = (): string => {
      const v = inline ?? args[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--param' || flag === '-p') {
      const [key, parsed] = parseParameter(value());
      parameters[key] = parsed;
    } else if (flag === '--out') options.outDir = value();
    else if (flag === '--timeout') options.cellTimeoutMs = Number(value()) * 1000;
    else if (!flag.startsWith('-') && file === undefined) file = flag;
    else throw new Error(`unexpected argument ${args[i]}`);
  }
  if (!file) throw new Error('no notebook given');
  return { file, options };
}

async function main(): Promise<void> {
  let parsed: { file: string; options: RunOptions };
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`notebook: ${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    process.exit(2);
  }
  try {
    const result = await runNotebook(parsed.file, parsed.options);
    process.stdout.write(`Wrote ${result.notebookPath}\nWrote ${result.htmlPath}\n`);
    if (result.failure) {
      const { cellIndex, ename, evalue } = result.failure;
      process.stderr.write(`notebook: ${parsed.file} failed at cell ${cellIndex + 1}: ${ename}: ${evalue}\n`);
      if (result.skippedCells.length) process.stderr.write(`notebook: ${result.skippedCells.length} later cell(s) did not run\n`);
      process.exit(1);
    }
  } catch (e) {
    process.stderr.write(`notebook: ${isMmkitError(e) || e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}

void main();
