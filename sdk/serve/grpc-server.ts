/**
 * The gRPC front end of the Open Inference Protocol (inference.GRPCInferenceService) on
 * @grpc/grpc-js. Tensors arrive as raw_input_contents (what tritonclient sends) or typed
 * contents; outputs always go back as raw_output_contents, as Triton answers.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import { datatypeOf, toBytes } from './datatypes';
import { decodeTensor, type TensorMessage } from './grpc-tensors';
import type { InferenceService } from './inference-service';
import { inferenceProtoPath } from './proto-path';
import { asServingError, grpcStatusOf } from './status';

interface InferRequestMessage {
  model_name: string;
  model_version: string;
  id: string;
  inputs: TensorMessage[];
  outputs: { name: string; parameters: Record<string, unknown> }[];
  raw_input_contents: Buffer[];
}

type Handler = (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => void;

function serviceDefinition(): grpc.ServiceDefinition {
  // keepCase: the proto's field names as written; longs as strings: int64 values stay exact.
  const def = protoLoader.loadSync(inferenceProtoPath(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
  return pkg.inference.GRPCInferenceService.service;
}

/** Answers with the handler's value, or with the status its MmkitError stands for. */
function unary<Req, Res>(service: InferenceService, fn: (req: Req, call: grpc.ServerUnaryCall<unknown, unknown>) => Res | Promise<Res>): Handler {
  return (call, callback) => {
    void service.track(() =>
      Promise.resolve()
        .then(() => fn(call.request as Req, call))
        .then(
          (res) => callback(null, res),
          (e: unknown) => {
            const error = asServingError(e);
            callback({ code: grpcStatusOf(error), details: error.message });
          },
        ),
    );
  };
}

export function createGrpcFront(service: InferenceService, maxMessageBytes: number): grpc.Server {
  const server = new grpc.Server({
    // gRPC's 4 MiB default is below a batch of 7 ViT images.
    'grpc.max_receive_message_length': maxMessageBytes,
    'grpc.max_send_message_length': -1,
  });
  const handlers: Record<string, Handler> = {
    ServerLive: unary(service, () => ({ live: service.live })),
    ServerReady: unary(service, () => ({ ready: service.ready })),
    ModelReady: unary(service, (req: { name: string; version: string }) => ({ ready: service.modelReady(req.name, req.version || undefined) })),
    ServerMetadata: unary(service, () => service.metadata),
    ModelMetadata: unary(service, (req: { name: string; version: string }) => service.model(req.name, req.version || undefined).metadata),
    ModelInfer: unary(service, async (req: InferRequestMessage, call) => {
      const inputs = decodeInputs(req);
      const outputs = req.outputs.map((o) => o.name);
      const version = req.model_version || undefined;
      // A client that cancels (or whose deadline passes) while its request waits frees its place in the queue.
      const gone = new AbortController();
      call.once('cancelled', () => gone.abort());
      const { model, outputs: result } = await service.infer(req.model_name, version, { inputs, outputs: outputs.length ? outputs : undefined, signal: gone.signal }, 'grpc');
      return encodeOutputs(req, model.config.version, result);
    }),
  };
  server.addService(serviceDefinition(), handlers);
  return server;
}

function decodeInputs(req: InferRequestMessage): Record<string, TensorData> {
  const raw = req.raw_input_contents;
  const typed = req.inputs.find((i) => i.contents);
  if (raw.length > 0 && typed) {
    throw new MmkitError('BAD_REQUEST', `Input '${typed.name}' has typed contents, but the request also carries raw_input_contents.`, { tensor: typed.name, hint: 'Send every input raw, or every input typed: the protocol forbids mixing them.' });
  }
  if (raw.length > 0 && raw.length !== req.inputs.length) {
    throw new MmkitError('BAD_REQUEST', `The request has ${req.inputs.length} inputs but ${raw.length} raw_input_contents.`, { hint: 'Send one raw_input_contents entry per input, in the order of inputs.' });
  }
  const inputs: Record<string, TensorData> = {};
  req.inputs.forEach((msg, i) => {
    if (msg.name in inputs) throw new MmkitError('BAD_REQUEST', `Input '${msg.name}' appears twice.`, { tensor: msg.name, hint: 'Send each input once.' });
    inputs[msg.name] = decodeTensor(msg, raw.length > 0 ? raw[i] : undefined, (problem) =>
      new MmkitError('BAD_REQUEST', `Model '${req.model_name}': input '${msg.name}' ${problem}.`, { tensor: msg.name, hint: 'Send the raw little-endian bytes, or the typed contents, of exactly the declared shape.' }),
    );
  });
  return inputs;
}

function encodeOutputs(req: InferRequestMessage, version: string, result: Record<string, TensorData>): object {
  const names = Object.keys(result);
  return {
    model_name: req.model_name,
    model_version: version,
    id: req.id,
    outputs: names.map((name) => ({ name, datatype: datatypeOf(result[name].dtype, name), shape: result[name].dims })),
    raw_output_contents: names.map((name) => toBytes(result[name].data)),
  };
}
