/**
 * A Jupyter client in Node: starts the mmkit kernel with a fresh connection file and talks to
 * it over ZeroMQ (shell/control DEALER, iopub SUB), signing every message with HMAC-SHA256.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as zmq from 'zeromq';
import { MmkitError } from '../../sdk/errors';
import { kernelSpec } from '../kernelspec';
import { decodeMessage, encodeMessage, newHeader, type JupyterMessage } from '../wire';

export interface KernelClientOptions {
  /** The kernel's working directory (a notebook's folder). */
  cwd: string;
  /**
   * The command that starts the kernel, with {connection_file} where the connection file
   * goes (a kernelspec's argv); default: this checkout's mmkit kernel.
   */
  argv?: string[];
  /** How long the kernel may take to answer its first kernel_info_request. Default 60 s. */
  startTimeoutMs?: number;
}

export interface ExecuteOptions {
  /** Longest the code may run before the kernel is interrupted. Default 10 minutes. */
  timeoutMs?: number;
  /** Called with each iopub message the request causes, as it arrives. */
  onMessage?: (message: JupyterMessage) => void;
}

export interface ExecuteOutcome {
  reply: JupyterMessage;
  /** The iopub messages the request caused, between busy and idle, in order. */
  messages: JupyterMessage[];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Waiter {
  messages: JupyterMessage[];
  idle: () => void;
  onMessage?: (message: JupyterMessage) => void;
}

export class KernelClient {
  private readonly session = randomUUID();
  private readonly waiters = new Map<string, Waiter>();
  /** The end of the kernel's stderr, quoted when it fails. */
  private stderrTail = '';
  private exited = false;

  private constructor(
    private readonly child: ChildProcess,
    private readonly key: string,
    private readonly shell: zmq.Dealer,
    private readonly control: zmq.Dealer,
    private readonly iopub: zmq.Subscriber,
    private readonly connectionDir: string,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
    });
    child.on('exit', () => {
      this.exited = true;
    });
    void this.readIopub();
    void this.readShell();
  }

  /** Starts a kernel and waits until both its shell and iopub channels answer. */
  static async start(options: KernelClientOptions): Promise<KernelClient> {
    const zeromq = await import('zeromq');
    const key = randomBytes(32).toString('hex');
    const ports = { shell: 0, iopub: 0, stdin: 0, control: 0, hb: 0 };
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    const connectionDir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-kernel-'));
    const connectionFile = path.join(connectionDir, 'kernel.json');
    writeFileSync(
      connectionFile,
      JSON.stringify({
        transport: 'tcp',
        ip: '127.0.0.1',
        key,
        signature_scheme: 'hmac-sha256',
        kernel_name: 'mmkit',
        shell_port: ports.shell,
        iopub_port: ports.iopub,
        stdin_port: ports.stdin,
        control_port: ports.control,
        hb_port: ports.hb,
      }),
    );
    // The installed kernelspec's own command line, so the runner starts the same kernel Jupyter does.
    const argv = (options.argv ?? kernelSpec().argv).map((arg) =>
      arg.replace('{connection_file}', connectionFile),
    );
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const address = (port: number) => `tcp://127.0.0.1:${port}`;
    const shell = new zeromq.Dealer();
    const control = new zeromq.Dealer();
    // Unbounded, like the kernel's side: a burst of outputs must not be dropped.
    const iopub = new zeromq.Subscriber({ receiveHighWaterMark: 0 });
    shell.connect(address(ports.shell));
    control.connect(address(ports.control));
    iopub.connect(address(ports.iopub));
    iopub.subscribe();
    const client = new KernelClient(child, key, shell, control, iopub, connectionDir);
    try {
      await client.waitUntilReady(options.startTimeoutMs ?? 60_000);
    } catch (e) {
      // A kernel that never became ready leaves neither a process nor its connection folder behind.
      await client.shutdown();
      throw e;
    }
    return client;
  }

  /**
   * iopub is PUB/SUB: messages sent before the subscription is in place are lost. Ask for
   * kernel_info until its busy/idle came back on iopub, as jupyter_client does.
   */
  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw this.failure('The kernel exited while starting.');
      const request = this.request('kernel_info_request', {});
      const seen = new Promise<void>((resolve) => this.waiters.set(request.header.msg_id, { messages: [], idle: resolve }));
      const reply = this.awaitReply(request.header.msg_id);
      await this.shell.send(encodeMessage(this.key, request));
      const ready = await Promise.race([seen.then(() => true), sleep(500).then(() => false)]);
      this.waiters.delete(request.header.msg_id);
      if (ready) {
        await reply;
        return;
      }
      this.replies.delete(request.header.msg_id);
    }
    throw this.failure(`The kernel did not answer within ${timeoutMs / 1000} s.`);
  }

  /** Shell replies by the msg_id of their request; replies nobody waits for are dropped. */
  private readonly replies = new Map<string, (reply: JupyterMessage) => void>();

  private awaitReply(msgId: string): Promise<JupyterMessage> {
    return new Promise((resolve) => this.replies.set(msgId, resolve));
  }

  private async readShell(): Promise<void> {
    try {
      for await (const frames of this.shell) {
        const { message } = decodeMessage(this.key, frames);
        const msgId = message.parent_header.msg_id ?? '';
        this.replies.get(msgId)?.(message);
        this.replies.delete(msgId);
      }
    } catch {
      // The socket closed: the client is shutting down.
    }
  }

  private failure(message: string): MmkitError {
    return new MmkitError('RUNTIME', `${message}${this.stderrTail ? `\nkernel stderr:\n${this.stderrTail}` : ''}`);
  }

  private request(msgType: string, content: Record<string, unknown>): JupyterMessage {
    return { header: newHeader(msgType, this.session), parent_header: {}, metadata: {}, content };
  }

  private async readIopub(): Promise<void> {
    try {
      for await (const frames of this.iopub) {
        const { message } = decodeMessage(this.key, frames);
        const waiter = this.waiters.get(message.parent_header.msg_id ?? '');
        if (!waiter) continue;
        if (message.header.msg_type === 'status') {
          if (message.content.execution_state === 'idle') waiter.idle();
          continue;
        }
        waiter.messages.push(message);
        waiter.onMessage?.(message);
      }
    } catch {
      // The socket closed: the client is shutting down.
    }
  }

  /**
   * Runs code and resolves once the reply and the matching idle status have arrived.
   * On timeout the kernel is interrupted and the call rejects.
   */
  async execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteOutcome> {
    const timeoutMs = options.timeoutMs ?? 600_000;
    if (this.exited) throw this.failure('The kernel is not running.');
    const request = this.request('execute_request', {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
    const messages: JupyterMessage[] = [];
    const idle = new Promise<void>((resolve) =>
      this.waiters.set(request.header.msg_id, { messages, idle: resolve, onMessage: options.onMessage }),
    );
    const reply = this.awaitReply(request.header.msg_id);
    await this.shell.send(encodeMessage(this.key, request));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.interrupt();
        reject(new MmkitError('RUNTIME', `The cell did not finish within ${timeoutMs / 1000} s and was interrupted.`));
      }, timeoutMs);
    });
    let onExit: (() => void) | undefined;
    const exit = new Promise<never>((_, reject) => {
      onExit = () => reject(this.failure('The kernel died while running the cell.'));
      this.child.once('exit', onExit);
    });
    try {
      const [answer] = await Promise.race([Promise.all([reply, idle]), timeout, exit]);
      return { reply: answer, messages };
    } finally {
      clearTimeout(timer);
      if (onExit) this.child.off('exit', onExit);
      this.waiters.delete(request.header.msg_id);
    }
  }

  /** The kernel's process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  interrupt(): void {
    this.child.kill('SIGINT');
  }

  /** Asks the kernel to shut down, then makes sure the process is gone. */
  async shutdown(): Promise<void> {
    if (!this.exited) {
      await this.control.send(encodeMessage(this.key, this.request('shutdown_request', { restart: false })));
      const gone = new Promise<boolean>((resolve) => this.child.once('exit', () => resolve(true)));
      if (!(await Promise.race([gone, sleep(3000).then(() => false)]))) this.child.kill('SIGKILL');
    }
    this.shell.close();
    this.control.close();
    this.iopub.close();
    rmSync(this.connectionDir, { recursive: true, force: true });
  }
}
