/** The Open Inference Protocol's metadata answers, as the server sends and the client reads them (REST and gRPC alike). */

export interface TensorMetadata {
  name: string;
  /** The protocol's datatype name: 'FP32', 'INT64', … */
  datatype: string;
  /** -1 for a free dimension (the batch axis included). */
  shape: number[];
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  /** 'onnxruntime_onnx' for mmkit's models, as Triton names the platform. */
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}
