export { calibrate, DEFAULT_PERCENTILE, DEFAULT_BINS } from './calibrate';
export type { CalibrateOptions, CalibratedRange, CalibrationTable } from './calibrate';
export { chooseRange, entropyThreshold, mseThreshold, CALIBRATION_METHODS, ENTROPY_LEVELS } from './methods';
export type { CalibrationMethod, RangeMethodOptions } from './methods';
export { ActivationHistogram, Histogram, RangeTracker } from './histogram';
export type { TensorRange } from './histogram';
