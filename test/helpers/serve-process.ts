/**
 * `mmkit serve` as a child process for the serving tests: free ports, started asynchronously
 * (a test worker must not block on it, see test/helpers/run-process.ts), ready when /v2/health/ready
 * answers 200, and stopped with SIGTERM (SIGKILL if it does not go).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '..', '..');
export const PROTO = path.join(ROOT, 'sdk', 'serve', 'proto', 'grpc_predict_v2.proto');
export const VIT = path.join(ROOT, 'datasets', 'models', 'vit-tiny-mnist.onnx');

export interface ServerProcess {
  httpUrl: string;
  grpcAddress: string;
  /** What the server printed so far (for failure messages). */
  output(): string;
  /** Whether the process is still running. */
  running(): boolean;
  /** How it ended: its exit code, or the signal that killed it; undefined while it runs. */
  exit(): number | string | undefined;
  stop(): Promise<void>;
}

/** A TCP port nothing listens on now (the OS picks it; another process could take it before us, rarely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts `mmkit serve MODEL --name NAME` on free ports with `extraArgs` (one instance), and waits until it is ready. */
export function startServer(model: string, name: string, extraArgs: string[] = [], readyTimeoutMs = 180_000): Promise<ServerProcess> {
  // One instance: the tests share a small machine.
  return startServeProcess([model, '--name', name, '--workers', '1', ...extraArgs], readyTimeoutMs);
}

/** Starts `mmkit serve ARGS` on loopback and free ports, and waits until /v2/health/ready answers 200. */
export async function startServeProcess(serveArgs: string[], readyTimeoutMs = 180_000): Promise<ServerProcess> {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const args = ['dist/sdk/cli/main.js', 'serve', ...serveArgs, '--host', '127.0.0.1', '--http-port', String(httpPort), '--grpc-port', String(grpcPort)];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (output += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (output += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = () => child.exitCode === null && child.signalCode === null;
  const stop = async () => {
    if (!running()) return;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  };
  const exit = () => (running() ? undefined : (child.exitCode ?? child.signalCode ?? undefined));
  const server: ServerProcess = { httpUrl: `http://127.0.0.1:${httpPort}`, grpcAddress: `127.0.0.1:${grpcPort}`, output: () => output, running, exit, stop };

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (!running()) throw new Error(`mmkit serve exited with ${child.exitCode ?? child.signalCode} before it was ready:\n${output}`);
    try {
      const res = await fetch(`${server.httpUrl}/v2/health/ready`);
      await res.arrayBuffer();
      if (res.status === 200) return server;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`mmkit serve was not ready within ${readyTimeoutMs} ms:\n${output}`);
}
