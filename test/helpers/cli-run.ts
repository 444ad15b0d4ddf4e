/** Runs the compiled `mmkit` CLI (dist/, built by the global setup) as users do, asynchronously. */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import { runProcess, type ProcessResult } from './run-process';

export const ROOT = path.resolve(__dirname, '..', '..');
export const VIT = path.join(ROOT, 'datasets/models/vit-tiny-mnist.onnx');
const MAIN = path.join(ROOT, 'dist/sdk/cli/main.js');

export function mmkit(args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [MAIN, ...args], { cwd: opts.cwd ?? ROOT, timeoutMs: opts.timeoutMs ?? 110_000 });
}

/** A fresh folder under the OS temp dir, and its removal. */
export function tempDir(prefix: string): { dir: string; files(): string[]; remove(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `mmkit-cli-${prefix}-`));
  return { dir, files: () => readdirSync(dir).sort(), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Bad usage or input: exit 2, stdout empty, one stderr line `mmkit <command>: <CODE>: …` and no stack ('' for mmkit itself). */
export function expectUsageError(r: ProcessResult, command: string, code: string): void {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^mmkit${command ? ` ${command}` : ''}: ${code}: \\S`));
  expect(r.stderr).not.toMatch(/\n\s+at /);
}
