export { Dataset } from './dataset';
export type { DatasetInfo } from './dataset';
export type { Batch } from './batch';
export { batchSize, inputTensors, sliceBatch, concatBatches } from './batch';
export type { TensorData } from './tensor-data';
export { elementCount, sliceRows, concatRows, isTensorData } from './tensor-data';
export { mnist, MNIST_MEAN, MNIST_STD } from './mnist';
export type { MnistOptions } from './mnist';
export { mulberry32 } from './random';
