import type { Batch } from '../data/batch';
import { concatRows, isTensorData, type TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import type { Session } from './session';

/** Named feeds for a session, or a dataset batch (whose bare tensor feeds a single-input model). */
export type FeedsOrBatch = Record<string, TensorData> | Batch;

export interface BatchedRunOptions {
  /** Outputs (and taps) to keep; default all. */
  fetch?: string[];
  signal?: AbortSignal;
  /** Called after each batch with the items done so far. */
  onProgress?: (doneItems: number) => void;
}

/** A Batch has `inputs` and maybe `label`, nothing else; feeds for a model input named 'inputs' read the same either way. */
function isBatch(x: FeedsOrBatch): x is Batch {
  return 'inputs' in x && Object.keys(x).every((k) => k === 'inputs' || k === 'label') && !isTensorData(x);
}

/** The feeds a session gets for one batch. */
export function feedsFor(session: Pick<Session, 'inputNames' | 'label'>, item: FeedsOrBatch): Record<string, TensorData> {
  if (!isBatch(item)) return item;
  if (!isTensorData(item.inputs)) return item.inputs;
  if (session.inputNames.length !== 1) {
    throw new MmkitError('UNKNOWN_INPUT', `${session.label} has ${session.inputNames.length} inputs (${session.inputNames.map((n) => `'${n}'`).join(', ')}), but the batch gives one unnamed tensor.`, {
      hint: 'Give batch inputs as a record keyed by input name.',
    });
  }
  return { [session.inputNames[0]]: item.inputs };
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new MmkitError('CANCELLED', `${what} was cancelled.`, { cause: signal.reason });
}

/**
 * Runs a session over batches and stacks each output along the first axis: the result equals
 * one run over all items, without holding more than one batch of inputs at a time.
 */
export async function runBatched(session: Session, batches: AsyncIterable<FeedsOrBatch> | Iterable<FeedsOrBatch>, opts: BatchedRunOptions = {}): Promise<Record<string, TensorData>> {
  const parts: Record<string, TensorData>[] = [];
  let done = 0;
  for await (const item of batches) {
    throwIfAborted(opts.signal, `Running ${session.label}`);
    const feeds = feedsFor(session, item);
    const out = await session.run(feeds, { fetch: opts.fetch });
    parts.push(out);
    done += Object.values(feeds)[0]?.dims[0] ?? 0;
    opts.onProgress?.(done);
  }
  if (parts.length === 0) throw new MmkitError('BAD_DATASET', `No batches to run ${session.label} on.`, { hint: 'Check that the dataset is not empty.' });
  return Object.fromEntries(Object.keys(parts[0]).map((name) => [name, concatRows(parts.map((p) => p[name]), name)]));
}
