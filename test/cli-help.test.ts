/** Every `mmkit` command has --help with examples (exit 0); usage errors exit 2 with one line. */
import { describe, expect, it } from 'vitest';
import { expectUsageError, mmkit } from './helpers/cli-run';
import { MMKIT_VERSION } from '../sdk/version';

const COMMANDS = ['compress', 'summary', 'eval', 'check', 'notebook'];

describe('mmkit --help', () => {
  it('lists the commands and the exit codes', async () => {
    const r = await mmkit(['--help']);
    expect(r.status, r.stderr).toBe(0);
    for (const command of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
    expect(r.stdout).toContain('Exit codes: 0 ok, 1 the compression check flagged the result, 2 bad usage or input');
  });

  it.each(COMMANDS)('mmkit %s --help shows usage, options and examples, exit 0', async (command) => {
    const r = await mmkit([command, '--help']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Usage: mmkit ${command} [options]`);
    expect(r.stdout).toContain('--json');
    expect(r.stdout).toContain(`Examples:\n  mmkit ${command} `);
  });

  it('compress --help explains the --prune and --low-rank syntax', async () => {
    const r = await mmkit(['compress', '--help']);
    for (const form of ['0.5 ', '2:4 ', 'mlp:0.5 ', 'heads:0.25 ', '0.25 ', 'energy:0.9 ']) expect(r.stdout).toContain(`  ${form}`);
  });

  it('--version prints the package version', async () => {
    const r = await mmkit(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(MMKIT_VERSION);
  });

  it('an unknown command, or none, exits 2', async () => {
    expectUsageError(await mmkit(['compres']), '', 'BAD_OPTION');
    const none = await mmkit([]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('Usage: mmkit');
  });
});
