/**
 * What every `mmkit` command shares: exit codes a CI job can gate on, one-line errors, the
 * `--json` switch, and progress on stderr (stdout carries only the command's result).
 */
import type { Command } from 'commander';
import { isMmkitError, messageOf } from '../errors';
import type { RunContext } from '../step';
import { Progress } from '../report';

export const EXIT = {
  /** Done, and nothing was flagged. */
  OK: 0,
  /** Done, but the compression check flagged the result. */
  FLAGGED: 1,
  /** Bad usage or bad input: nothing was done (or written). */
  USAGE: 2,
  /** Interrupted (Ctrl-C): the shell convention 128 + SIGINT. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The options every command sees through optsWithGlobals(). */
interface GlobalOptions {
  verbose?: boolean;
}

/** "compress", or "export triton" for a nested command. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The single line a failure prints: `mmkit <command>: <CODE>: <message>`. */
export function errorLine(cmd: Command, code: string, message: string): string {
  const where = commandPath(cmd);
  return `mmkit${where ? ` ${where}` : ''}: ${code}: ${message.replace(/\s*\n\s*/g, ' ').trim()}\n`;
}

/** Writes a failure as one line on stderr (the stack and causes too with --verbose); returns its exit code. */
export function reportFailure(cmd: Command, e: unknown): ExitCode {
  const verbose = (cmd.optsWithGlobals() as GlobalOptions).verbose === true;
  if (isMmkitError(e)) {
    process.stderr.write(errorLine(cmd, e.code, e.message));
    if (verbose) writeStack(e);
    return e.code === 'CANCELLED' ? EXIT.INTERRUPTED : EXIT.USAGE;
  }
  // Not a deliberate SDK error: still one line, but say how to see where it came from.
  const name = e instanceof Error ? e.name : 'Error';
  process.stderr.write(errorLine(cmd, 'UNEXPECTED', `${name}: ${messageOf(e)}${verbose ? '' : ' (run again with --verbose for the stack)'}`));
  if (verbose) writeStack(e);
  return EXIT.USAGE;
}

/** The stack of an error, then of each cause in turn. */
function writeStack(e: unknown): void {
  for (let cause: unknown = e, first = true; cause !== undefined; first = false) {
    process.stderr.write(`${first ? '' : 'caused by: '}${cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)}\n`);
    cause = cause instanceof Error ? cause.cause : undefined;
  }
}

/**
 * Wraps a command's action: its resolved exit code (default OK) becomes the process's, and any
 * error becomes one line on stderr with exit 2. Commander passes the Command last.
 */
export function action<A extends unknown[]>(run: (...args: A) => Promise<ExitCode | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    try {
      process.exitCode = (await run(...args)) ?? EXIT.OK;
    } catch (e) {
      process.exitCode = reportFailure(cmd, e);
    }
  };
}

/**
 * Makes commander's own usage errors (unknown option, missing argument, bad option value) one
 * line in the same shape with exit 2; --help and --version still exit 0. Applied to every
 * command after all are registered, so each names itself in the line.
 */
export function configureUsageErrors(program: Command): void {
  const visit = (cmd: Command): void => {
    cmd
      .configureOutput({
        outputError: (text, write) => {
          const message = text.replace(/^error: /, '').trim().replace(/\.$/, '');
          write(errorLine(cmd, 'BAD_OPTION', `${message}. See 'mmkit${commandPath(cmd) ? ` ${commandPath(cmd)}` : ''} --help'.`));
        },
      })
      .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.OK : EXIT.USAGE));
    cmd.commands.forEach(visit);
  };
  visit(program);
}

/** Adds `--json` to a command. */
export function jsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print machine-readable JSON on stdout instead of text');
}

/** Writes the result on stdout: JSON with --json, else the human text. */
export function emit(options: { json?: boolean }, value: unknown, text: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${text().replace(/\n*$/, '')}\n`);
}

/** Human text for stderr while a command works; --json output stays on stdout alone. */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * Runs long SDK work with a RunContext: a progress bar on stderr (redrawn in place on a
 * terminal, silent when stderr is not one or under CI), a fresh bar each time the SDK names a
 * new phase, and Ctrl-C cancelling the work cleanly (MmkitError CANCELLED; a second Ctrl-C
 * kills at once).
 */
export async function withCliProgress<T>(label: string, work: (ctx: RunContext) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(EXIT.INTERRUPTED);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSigint);
  let bar: Progress | undefined;
  const onProgress = (done: number, total?: number, phase?: string): void => {
    const wanted = phase ?? label;
    if (bar?.label !== wanted) {
      bar?.finish();
      bar = new Progress({ label: wanted, total, signal: controller.signal });
    }
    bar.update(done, total);
  };
  try {
    const result = await work({ signal: controller.signal, onProgress });
    bar?.finish('complete');
    return result;
  } catch (e) {
    bar?.finish(isMmkitError(e, 'CANCELLED') ? 'cancelled' : 'failed');
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
