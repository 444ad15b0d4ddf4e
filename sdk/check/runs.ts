/** The runs that come before any comparison: the reference on the check's first batch, then the candidate loaded (and run) in each runtime. */
import { inputTensors, sliceBatch, type Batch } from '../data/batch';
import { messageOf } from '../errors';
import { serializeModel, type OnnxModel } from '../onnx';
import { feedsFor } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { createSession, type Session } from '../runtime/session';
import type { TensorData } from '../tensor-data';
import { describeFailure, type RuntimeFailure } from './runtime-failure';
import { createWebSession } from './web-runtime';

/** Whether the candidate loaded and ran in one runtime. */
export interface RuntimeRun {
  ok: boolean;
  /** The web run was not asked for (web: false). */
  skipped?: boolean;
  /** Only loaded: the reference failed on the inputs, so running the candidate on them tells nothing. */
  loadOnly?: boolean;
  failure?: RuntimeFailure;
}

/**
 * Loads the candidate in onnxruntime-node and runs one batch (only loads it without `first`): the
 * session, or why not.
 */
export async function nodeRun(candidate: OnnxModel, reference: OnnxModel, first: Batch | undefined, device: Device): Promise<{ run: RuntimeRun; session?: Session }> {
  let session: Session;
  try {
    session = await createSession(candidate, { device });
  } catch (e) {
    return { run: { ok: false, failure: describeFailure('onnxruntime-node', 'load', e, candidate, reference) } };
  }
  if (!first) {
    await session.dispose();
    return { run: { ok: true, loadOnly: true } };
  }
  try {
    await session.run(feedsFor(session, first));
    return { run: { ok: true }, session };
  } catch (e) {
    await session.dispose();
    return { run: { ok: false, failure: describeFailure('onnxruntime-node', 'run', e, candidate, reference) } };
  }
}

export async function webRun(candidate: OnnxModel, first: Batch | undefined): Promise<RuntimeRun> {
  let stage: 'load' | 'run' = 'load';
  try {
    const session = await createWebSession(serializeModel(candidate));
    try {
      stage = 'run';
      if (first) await session.run(feedsFor({ inputNames: session.inputNames, label: 'the candidate' }, first));
    } finally {
      await session.release();
    }
    return first ? { ok: true } : { ok: true, loadOnly: true };
  } catch (e) {
    return { ok: false, failure: describeFailure('onnxruntime-web (wasm)', stage, e, candidate) };
  }
}

/** The first item of a batch, where every input is batched on axis 0: enough to see the candidate load and run. */
export function oneItem(batch: Batch): Batch {
  const dims0 = new Set(inputTensors(batch).map((t) => t.dims[0]));
  return dims0.size === 1 && [...dims0][0] > 1 ? sliceBatch(batch, 0, 1) : batch;
}

/** The reference on the first batch, before anything of the candidate's: its outputs and time, or why it fails. */
export async function referenceRun(session: Session, first: Batch): Promise<{ outputs: Record<string, TensorData>; ms: number } | { error: string }> {
  const start = performance.now();
  try {
    const outputs = await session.run(feedsFor(session, first));
    return { outputs, ms: performance.now() - start };
  } catch (e) {
    return { error: messageOf(e).split('\n')[0].slice(0, 300) };
  }
}
