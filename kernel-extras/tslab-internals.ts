/**
 * Typed handles on tslab 1.0.22's internal modules (node_modules/tslab/dist/*.js), which the
 * launcher patches at load time. Only the members the patches touch are described here.
 */
import type { JupyterMessage } from './wire';

export interface TslabMessage {
  identity: Buffer[];
  header: JupyterMessage['header'];
  content: Record<string, unknown>;
  createReply(): TslabMessage & { parent: JupyterMessage['header']; metadata: Record<string, unknown> };
  signAndSend(key: string, socket: unknown): void;
}

export interface ZmqSocket {
  send(frames: Buffer[]): Promise<void>;
}

export interface ExecuteRequest {
  code: string;
  silent?: boolean;
  store_history?: boolean;
  user_expressions?: Record<string, unknown>;
  stop_on_error?: boolean;
}

export interface ExecuteReply {
  status: string;
  execution_count?: number;
  [key: string]: unknown;
}

export type WriteStream = (name: string, text: string) => void;
export type WriteDisplayData = (content: unknown, update: boolean) => void;

export interface TslabExecutor {
  execute(src: string): Promise<boolean>;
  interrupt(): void;
}

export interface TslabConsole {
  log(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface JupyterHandlerImpl {
  executor: TslabExecutor;
  execCount: number;
  handleKernel(): Record<string, unknown>;
  handleExecute(req: ExecuteRequest, writeStream: WriteStream, writeDisplayData: WriteDisplayData): Promise<ExecuteReply>;
  handleExecuteImpl(req: ExecuteRequest, writeStream: WriteStream, writeDisplayData: WriteDisplayData): Promise<{ count: number }>;
  handleIsComplete(req: { code: string }): { status: string; indent?: string };
  handleInspect(req: { code: string; cursor_pos: number; detail_level: 0 | 1 }): { found: boolean; data: Record<string, string> };
  handleShutdown(req: { restart?: boolean }): Record<string, unknown>;
  createWriteToIopub(name: 'stdout' | 'stderr', writeStream: WriteStream): (chunk: string | Uint8Array) => boolean;
}

export interface ZmqServer {
  connInfo: { key: string };
  iopub: ZmqSocket & { close(): void };
  handler: JupyterHandlerImpl;
  init(): Promise<void>;
  handleShellMessage(socket: ZmqSocket, ...frames: Buffer[]): Promise<void>;
  handleExecute(socket: ZmqSocket, msg: TslabMessage): Promise<void>;
  close(): void;
}

export interface TslabModules {
  jupyter: {
    JupyterHandlerImpl: { prototype: JupyterHandlerImpl };
    ZmqServer: { prototype: ZmqServer };
  };
  executor: {
    createExecutor(rootDir: string, convs: unknown, console: TslabConsole): TslabExecutor;
  };
  util: { TaskQueue: { prototype: { reset(delay?: number): void; prev: Promise<unknown> } } };
  main: {
    startKernel(options: { configPath: string; enableFindLocal: boolean; jsKernel: boolean; globalVersion: string }): void;
  };
  version: string;
  /** The zeromq module tslab creates its sockets from. */
  zeromq: { Publisher: new (options?: { sendHighWaterMark?: number }) => object };
  typescript: {
    version: string;
    transpileModule(
      input: string,
      options: { reportDiagnostics: boolean; compilerOptions: Record<string, unknown> },
    ): { diagnostics?: readonly unknown[] };
    /** The compiler's file system; tslab's converter reads through it. */
    sys: {
      fileExists(file: string): boolean;
      directoryExists(dir: string): boolean;
      readFile(file: string, encoding?: string): string | undefined;
    };
  };
}

/** tslab's modules, resolved from this package's own node_modules. */
export function loadTslab(): TslabModules {
  const dist = require.resolve('tslab/dist/main.js').replace(/main\.js$/, '');
  const tslabRequire = (name: string): unknown => require(dist + name);
  const fromTslab = (id: string): unknown => require(require.resolve(id, { paths: [dist] }));
  return {
    jupyter: tslabRequire('jupyter.js') as TslabModules['jupyter'],
    executor: tslabRequire('executor.js') as TslabModules['executor'],
    util: tslabRequire('util.js') as TslabModules['util'],
    main: tslabRequire('main.js') as TslabModules['main'],
    version: (fromTslab('tslab/package.json') as { version: string }).version,
    typescript: fromTslab('@tslab/typescript-for-tslab') as TslabModules['typescript'],
    zeromq: fromTslab('zeromq') as TslabModules['zeromq'],
  };
}
