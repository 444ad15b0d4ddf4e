/** The messages between the instance pool (main thread) and one model instance (a worker thread). */
import type { TensorData } from '../tensor-data';
import type { MmkitErrorCode } from '../errors';
import type { Device, TensorInfo } from '../runtime';

/** What a worker is started with (its workerData). */
export interface InstanceSetup {
  modelPath: string;
  device: Device;
  intraOpThreads: number;
  /** Batch sizes to run once before reporting ready, so no client pays for a first run at a new size; empty: one run as declared. */
  warmupBatchSizes: number[];
}

export interface RunTask {
  id: number;
  feeds: Record<string, TensorData>;
}

export type InstanceReply =
  | { kind: 'ready'; inputs: TensorInfo[]; outputs: TensorInfo[]; device: string; warning?: string }
  | { kind: 'failed'; code: MmkitErrorCode; message: string }
  | { kind: 'result'; id: number; outputs: Record<string, TensorData>; computeMs: number }
  | { kind: 'error'; id: number; code: MmkitErrorCode; message: string };
