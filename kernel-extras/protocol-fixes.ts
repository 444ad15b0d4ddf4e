/**
 * Fixes tslab 1.0.22's gaps in the Jupyter messaging protocol by wrapping its classes'
 * methods at load time (tslab itself stays untouched):
 * - the last expression of a cell comes back as execute_result with its full MIME bundle
 *   (tslab only console.logs it), and execute_input is broadcast;
 * - failures send an `error` message and a reply carrying ename/evalue/traceback;
 * - after an error only requests already queued are aborted (tslab refused everything for
 *   200 ms), none with stop_on_error=false, and aborted replies use the spec's status "aborted";
 * - kernel_info/shutdown replies carry status, is_complete knows "invalid", comm_info gets
 *   its own reply type, and history_request / interrupt_request are answered;
 * - `expr?` or `?expr` pages the type and docs of expr (IPython's pager payload);
 * - SDK code can publish full display bundles and clear_output to the running cell, and
 *   watch its AbortSignal, which interrupting the kernel aborts;
 * - iopub survives bursts (see iopub-flow.ts);
 * - shorthand properties naming an earlier cell's variable work (see shorthand-properties.ts).
 */
import type * as TS from 'typescript';
import { MmkitError } from '../sdk/errors';
import { mimeBundleOf } from '../sdk/report/bundle';
import { plainText } from '../sdk/report/mime';
import { KERNEL_BRIDGE, type KernelBridge } from '../sdk/report/kernel-bridge';
import { diagnosticsText, errorContentOf, type ErrorContent } from './execution-outcome';
import { History, type HistoryRequest } from './history';
import { expandShorthandProperties } from './shorthand-properties';
import { StreamBatcher, queuedSends, unboundedPublishers } from './iopub-flow';
import type { ExecuteRequest, TslabConsole, TslabModules, WriteStream, ZmqServer, ZmqSocket } from './tslab-internals';
import { childMessage, decodeMessage, encodeMessage, peekMessageType, type JupyterMessage } from './wire';

/** The message types tslab's own dispatcher handles. */
const TSLAB_HANDLES = new Set([
  'kernel_info_request',
  'execute_request',
  'is_complete_request',
  'inspect_request',
  'complete_request',
  'shutdown_request',
]);

type Publish = (msgType: string, content: Record<string, unknown>) => void;

/** What tslab's executor reported while running one cell. */
interface CellReports {
  result?: { value: unknown };
  errors: unknown[][];
}

export interface KernelIdentity {
  mmkitVersion: string;
}

export function applyProtocolFixes(tslab: TslabModules, identity: KernelIdentity): void {
  const publishers = new WeakMap<ExecuteRequest, Publish>();
  const failures = new WeakMap<ExecuteRequest, ErrorContent>();
  // Like ipykernel, stop_on_error aborts every request the client sent before a cell failed,
  // also those read only after the failure (a synchronous cell blocks the socket reads).
  const sentAt = new WeakMap<ExecuteRequest, number>();
  const aborted = new WeakSet<ExecuteRequest>();
  let failedAt = -Infinity;
  const sentBeforeFailure = (req: ExecuteRequest): boolean => (sentAt.get(req) ?? Infinity) < failedAt;
  const payloads = new WeakMap<ExecuteRequest, PagerPayload[]>();
  const history = new History();
  let reports: CellReports = { errors: [] };
  const batchers = new WeakMap<WriteStream, StreamBatcher>();
  const batcherOf = (writeStream: WriteStream): StreamBatcher => {
    let batcher = batchers.get(writeStream);
    if (!batcher) batchers.set(writeStream, (batcher = new StreamBatcher(writeStream)));
    return batcher;
  };
  // The cell running now, or the last one: output arriving late goes there, as in tslab.
  let currentCell: Publish | null = null;
  let cellAbort = new AbortController();

  // The executor reports the last expression through console.log and failures through
  // console.error; give it a console that records both instead of printing them.
  const { executor, jupyter, util } = tslab;
  const createExecutor = executor.createExecutor;
  executor.createExecutor = (rootDir, convs) => {
    const recorder: TslabConsole = {
      log: (value: unknown) => {
        reports.result = { value };
      },
      error: (...args: unknown[]) => {
        reports.errors.push(args);
      },
    };
    const created = createExecutor(rootDir, convs, recorder);
    const execute = created.execute.bind(created);
    created.execute = (src) => execute(expandShorthandProperties(src, tslab.typescript as unknown as typeof TS));
    // Interrupts (SIGINT, interrupt_request) also abort the running cell's signal, so SDK
    // work watching it stops instead of running on after tslab gave up waiting for it.
    const interrupt = created.interrupt.bind(created);
    created.interrupt = () => {
      cellAbort.abort(new MmkitError('CANCELLED', 'The cell was interrupted from the notebook.'));
      interrupt();
    };
    return created;
  };

  const server = jupyter.ZmqServer.prototype;
  const handler = jupyter.JupyterHandlerImpl.prototype;

  const handleExecuteMessage = server.handleExecute;
  server.handleExecute = function (socket, msg) {
    const sent = Date.parse(String(msg.header.date ?? ''));
    if (Number.isFinite(sent)) sentAt.set(msg.content as unknown as ExecuteRequest, sent);
    publishers.set(msg.content as unknown as ExecuteRequest, (msgType, content) => {
      const out = msg.createReply();
      out.header.msg_type = msgType;
      out.content = content;
      out.signAndSend(this.connInfo.key, this.iopub);
    });
    return handleExecuteMessage.call(this, socket, msg);
  };

  unboundedPublishers(tslab.zeromq);
  const init = server.init;
  const bound = new WeakMap<ZmqServer, Promise<void>>();
  server.init = function () {
    const done = (async () => {
      await init.call(this);
      // Replies go out one per request on shell/control; only iopub sees bursts.
      this.iopub = queuedSends(this.iopub);
    })();
    bound.set(this, done);
    return done;
  };

  handler.createWriteToIopub = function (name, writeStream) {
    const batcher = batcherOf(writeStream);
    return (chunk) => {
      batcher.write(name, typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    };
  };

  const runCell = handler.handleExecuteImpl;
  handler.handleExecuteImpl = async function (req, writeStream, writeDisplayData) {
    if (req.stop_on_error !== false && sentBeforeFailure(req)) {
      aborted.add(req);
      return { count: this.execCount };
    }
    // Pending stream text goes out before anything else this cell publishes.
    const streams = batcherOf(writeStream);
    const sendNow = publishers.get(req);
    const publish: Publish = (msgType, content) => {
      streams.flush();
      sendNow?.(msgType, content);
    };
    const display: typeof writeDisplayData = (content, update) => {
      streams.flush();
      writeDisplayData(content, update);
    };
    const visible = !req.silent;
    currentCell = publish;
    cellAbort = new AbortController();
    reports = { errors: [] };
    if (visible) publish('execute_input', { code: req.code, execution_count: this.execCount + 1 });
    const asked = pagerQuery(req.code);
    if (asked !== null) {
      const info = this.handleInspect({ code: asked, cursor_pos: asked.length, detail_level: 0 });
      const data = info.found ? info.data : { 'text/plain': `No type information for ${asked}` };
      payloads.set(req, [{ source: 'page', data, start: 0 }]);
      return { count: ++this.execCount };
    }
    let count: number;
    try {
      count = (await runCell.call(this, req, writeStream, display)).count;
    } catch (failure) {
      const error = errorContentOf(reports.errors);
      failures.set(req, error);
      if (req.stop_on_error !== false) failedAt = Date.now();
      publish('error', { ...error });
      if (req.store_history !== false) history.record(this.execCount, req.code, null);
      // Throwing cancels the requests queued behind this one: right for stop_on_error (the
      // default), wrong when the client asked to go on after errors.
      if (req.stop_on_error !== false) throw failure;
      return { count: this.execCount };
    }
    if (reports.errors.length > 0) streams.write('stderr', diagnosticsText(reports.errors));
    let shown: string | null = null;
    if (reports.result && visible) {
      const data = await bundleOrText(reports.result.value);
      shown = typeof data['text/plain'] === 'string' ? data['text/plain'] : null;
      if (Object.keys(data).length > 0) publish('execute_result', { execution_count: count, data, metadata: {} });
    }
    if (req.store_history !== false) history.record(count, req.code, shown);
    streams.flush();
    return { count };
  };

  const replyToExecute = handler.handleExecute;
  handler.handleExecute = async function (req, writeStream, writeDisplayData) {
    const reply = await replyToExecute.call(this, req, writeStream, writeDisplayData);
    publishers.delete(req);
    const failure = failures.get(req);
    if (aborted.has(req)) return { status: 'aborted', execution_count: reply.execution_count };
    if (failure || reply.status === 'error') return { ...reply, status: 'error', ...(failure ?? errorContentOf([])) };
    if (reply.status === 'ok') return { ...reply, payload: payloads.get(req) ?? [], user_expressions: {} };
    return { ...reply, status: 'aborted' };
  };

  // tslab kept refusing new requests for 200 ms after an error; requests already queued are
  // cancelled by the failed task itself (and those sent before the failure but read after it
  // are aborted by sentBeforeFailure), so the queue can take new work at once.
  util.TaskQueue.prototype.reset = function () {
    this.prev = Promise.resolve();
  };

  const kernelInfo = handler.handleKernel;
  handler.handleKernel = function () {
    const info = kernelInfo.call(this) as { language_info: Record<string, unknown> };
    return {
      ...info,
      status: 'ok',
      implementation: 'mmkit',
      implementation_version: identity.mmkitVersion,
      language_info: { ...info.language_info, version: tslab.typescript.version },
      banner: `TypeScript ${tslab.typescript.version} (mmkit ${identity.mmkitVersion} on tslab ${tslab.version}, Node ${process.version})`,
      help_links: [{ text: 'tslab', url: 'https://github.com/yunabe/tslab' }],
    };
  };

  const isComplete = handler.handleIsComplete;
  handler.handleIsComplete = function (req) {
    const verdict = isComplete.call(this, req);
    if (verdict.status !== 'complete') return verdict;
    const { diagnostics = [] } = tslab.typescript.transpileModule(req.code, { reportDiagnostics: true, compilerOptions: {} });
    return diagnostics.length > 0 ? { status: 'invalid' } : verdict;
  };

  handler.handleShutdown = function (req) {
    return { status: 'ok', restart: req.restart === true };
  };

  const extraRequests: Record<string, (server: ZmqServer, req: JupyterMessage) => [string, Record<string, unknown>]> = {
    history_request: (_server, req) => ['history_reply', { status: 'ok', history: history.query(req.content as HistoryRequest) }],
    // tslab answered comm_info with a complete_reply.
    comm_info_request: () => ['comm_info_reply', { status: 'ok', comms: {} }],
    interrupt_request: (srv) => {
      srv.handler.executor.interrupt();
      return ['interrupt_reply', { status: 'ok' }];
    },
  };

  const shellMessage = server.handleShellMessage;
  server.handleShellMessage = async function (socket, ...frames) {
    // tslab reads shell and control before its sockets are bound: a reply published while iopub
    // is still binding fails with EBUSY and kills the kernel (seen under load). Requests wait.
    await bound.get(this);
    const msgType = peekMessageType(frames) ?? '';
    const answer = extraRequests[msgType];
    if (answer) return answerDirectly(this, socket, frames, (req) => answer(this, req));
    // tslab printed a warning for anything else into the running cell's stderr; messages a
    // kernel does not support (comm_open, comm_msg, …) are to be ignored.
    if (TSLAB_HANDLES.has(msgType)) return shellMessage.call(this, socket, ...frames);
  };

  const bridge: KernelBridge = {
    display: (content, update) => currentCell?.(update ? 'update_display_data' : 'display_data', { ...content }),
    clearOutput: (wait) => currentCell?.('clear_output', { wait }),
    cellSignal: () => cellAbort.signal,
  };
  (globalThis as Record<symbol, unknown>)[KERNEL_BRIDGE] = bridge;
}

interface PagerPayload {
  source: 'page';
  data: Record<string, string>;
  start: number;
}

/** The expression of an IPython-style help query (`Math.max?` or `?Math.max`), else null. */
function pagerQuery(code: string): string | null {
  const match = /^\s*\?\s*([\w$.]+)\s*$|^\s*([\w$.]+)\s*\?\s*$/.exec(code);
  return match ? (match[1] ?? match[2]) : null;
}

/** A request tslab does not know, answered with busy → reply → idle like any other. */
async function answerDirectly(
  server: ZmqServer,
  socket: ZmqSocket,
  frames: Buffer[],
  answer: (req: JupyterMessage) => [string, Record<string, unknown>],
): Promise<void> {
  const key = server.connInfo.key;
  let routed: ReturnType<typeof decodeMessage>;
  try {
    routed = decodeMessage(key, frames);
  } catch {
    // A malformed or wrongly signed message is dropped, as ipykernel does.
    return;
  }
  const { identities, message } = routed;
  await server.iopub.send(encodeMessage(key, childMessage(message, 'status', { execution_state: 'busy' })));
  try {
    const [replyType, content] = answer(message);
    await socket.send(encodeMessage(key, childMessage(message, replyType, content), identities));
  } finally {
    await server.iopub.send(encodeMessage(key, childMessage(message, 'status', { execution_state: 'idle' })));
  }
}

/** A display bundle never takes the cell down: a failing display falls back to text. */
async function bundleOrText(value: unknown): Promise<Record<string, unknown>> {
  try {
    return await mimeBundleOf(value);
  } catch (e) {
    return { 'text/plain': `${plainText(value)}\n(display failed: ${e instanceof Error ? e.message : String(e)})` };
  }
}
