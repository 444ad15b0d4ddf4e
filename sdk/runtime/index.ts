export { createSession, Session } from './session';
export type { SessionOptions, RunOptions } from './session';
export { runBatched, feedsFor } from './batched';
export type { BatchedRunOptions, FeedsOrBatch } from './batched';
export { checkDevice, setNoticeHook, DEVICES } from './device';
export type { Device, ConcreteDevice, NoticeHook } from './device';
export { withTaps, tensorNames } from './taps';
export type { TensorInfo } from './feeds';
export type { ModelSource } from './source';
