import { spawn } from 'node:child_process';

export interface ProcessResult {
  /** Exit code; null when killed (timeout). */
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to completion without blocking the test worker: a synchronous spawn that takes
 * minutes (a notebook run) starves vitest's worker RPC, which then fails the run with a timeout.
 */
export function runProcess(command: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
