#!/usr/bin/env node
/**
 * `mmkit`: the command-line front of the SDK. Each command lives in its own module under
 * commands/ and exports `register(program)`; this file only assembles them.
 */
import { Command } from 'commander';
import { MMKIT_VERSION } from '../version';
import { configureUsageErrors, reportFailure } from './command';
import * as compress from './commands/compress';
import * as summary from './commands/summary';
import * as evaluate from './commands/eval';
import * as check from './commands/check';
import * as notebook from './commands/notebook';
import * as serve from './commands/serve';
import * as exportCommand from './commands/export';

/** The command modules, in the order `mmkit --help` lists them. To add one: import it and list it here. */
const COMMANDS: readonly { register(program: Command): void }[] = [compress, summary, evaluate, check, notebook, serve, exportCommand];

const program = new Command('mmkit')
  .description('Compress, check, evaluate and ship ONNX vision models.')
  .version(MMKIT_VERSION)
  .option('--verbose', 'on failure, print the stack trace and causes too')
  .showSuggestionAfterError()
  .addHelpText(
    'after',
    "\nExit codes: 0 ok, 1 the compression check flagged the result, 2 bad usage or input.\nRun 'mmkit <command> --help' for a command's options and examples.",
  );
for (const command of COMMANDS) command.register(program);
// After registration, so every command's usage errors name that command.
configureUsageErrors(program);

// Commands report their own failures (command.ts); this catches what escapes parsing itself.
program.parseAsync(process.argv).catch((e: unknown) => {
  process.exitCode = reportFailure(program, e);
});
