/**
 * One model instance: a worker thread that owns one onnxruntime session. onnxruntime-node's run()
 * is a synchronous native call, so inference lives here, off the thread that parses and routes.
 * It loads the model, runs the warm-up batch sizes, reports ready, then runs the batches it is sent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { isMmkitError, messageOf } from '../errors';
import { createSession, setNoticeHook, syntheticFeeds, type Session } from '../runtime';
import type { TensorData } from '../tensor-data';
import type { InstanceReply, InstanceSetup, RunTask } from './instance-messages';

const setup = workerData as InstanceSetup;
const port = parentPort!;
const post = (reply: InstanceReply, transfer: ArrayBuffer[] = []): void => port.postMessage(reply, transfer);

function buffersOf(tensors: Record<string, TensorData>): ArrayBuffer[] {
  // Outputs are fresh arrays from onnxruntime: moving them costs nothing. Distinct buffers only.
  return [...new Set(Object.values(tensors).map((t) => t.data.buffer as ArrayBuffer))];
}

/** Runs each warm-up batch size once; a model that cannot run on made-up inputs still serves, with the reason said. */
async function warmUp(session: Session): Promise<string | undefined> {
  const sizes = setup.warmupBatchSizes.length > 0 ? setup.warmupBatchSizes : [1];
  // Other free dims (a sequence length) warm up at 1: their real sizes vary per request anyway.
  const dims = Object.fromEntries(session.inputs.flatMap((i) => (i.dims ?? []).slice(1).filter((d): d is string => typeof d === 'string').map((d) => [d, 1])));
  try {
    for (const batchSize of sizes) await session.run(syntheticFeeds(session.inputs, { batchSize, dims }));
    return undefined;
  } catch (e) {
    return `warm-up skipped (${messageOf(e)}); the first requests will be slower`;
  }
}

async function start(): Promise<{ session: Session; warning?: string }> {
  // Device fallback notices go to the server's log.
  setNoticeHook((message) => console.warn(`mmkit serve: ${message}`));
  const session = await createSession(setup.modelPath, { device: setup.device, intraOpThreads: setup.intraOpThreads, interOpThreads: 1, reuse: false });
  return { session, warning: await warmUp(session) };
}

start().then(
  ({ session, warning }) => {
    post({ kind: 'ready', inputs: [...session.inputs], outputs: [...session.outputs], device: session.device, warning });
    port.on('message', (task: RunTask) => {
      const t0 = performance.now();
      session.run(task.feeds).then(
        (outputs) => post({ kind: 'result', id: task.id, outputs, computeMs: performance.now() - t0 }, buffersOf(outputs)),
        (e: unknown) => post({ kind: 'error', id: task.id, code: isMmkitError(e) ? e.code : 'RUNTIME', message: messageOf(e) }),
      );
    });
  },
  (e: unknown) => post({ kind: 'failed', code: isMmkitError(e) ? e.code : 'BAD_MODEL', message: messageOf(e) }),
);
