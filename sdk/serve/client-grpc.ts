/**
 * The inference client over gRPC: @grpc/grpc-js with the service loaded from the protocol's
 * .proto at run time (@grpc/proto-loader), tensors as raw contents by default, as tritonclient.
 */
import type * as grpc from '@grpc/grpc-js';
import type * as ProtoLoader from '@grpc/proto-loader';
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import { badAnswer, codeOfGrpcStatus, unreachable } from './client-errors';
import { encodeInputs } from './client-grpc-tensors';
import type { InferenceClient, InferOptions, InferResult, ModelMetadata, ServerMetadata, TensorMetadata } from './client-types';
import { decodeTensor, type TensorMessage } from './grpc-tensors';
import { inferenceProtoPath } from './proto-path';

/**
 * gRPC's 4 MiB default is below a batch of 7 ViT images; like tritonclient, let the server's
 * own limit be the only one (grpc-js takes -1 as unlimited).
 */
const UNLIMITED = -1;

/** @grpc/grpc-js, loaded when a gRPC client is first used: REST-only users of mmkit never pay its load time. */
function grpcJs(): typeof grpc {
  return require('@grpc/grpc-js') as typeof grpc;
}

type Callback = (err: grpc.ServiceError | null, res: unknown) => void;
type Rpc = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: Callback) => void;
type ServiceClient = grpc.Client & Record<string, Rpc>;

let serviceCtor: grpc.ServiceClientConstructor | undefined;

function inferenceService(): grpc.ServiceClientConstructor {
  if (!serviceCtor) {
    // keepCase: the proto's field names as written; longs as strings: int64 values stay exact.
    const def = (require('@grpc/proto-loader') as typeof ProtoLoader).loadSync(inferenceProtoPath(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpcJs().loadPackageDefinition(def) as unknown as { inference: { GRPCInferenceService: grpc.ServiceClientConstructor } };
    serviceCtor = pkg.inference.GRPCInferenceService;
  }
  return serviceCtor;
}

interface MetadataTensorMessage {
  name: string;
  datatype: string;
  shape: string[];
}

function tensorMetadata(t: MetadataTensorMessage): TensorMetadata {
  return { name: t.name, datatype: t.datatype, shape: t.shape.map(Number) };
}

interface InferResponseMessage {
  model_name: string;
  model_version: string;
  id: string;
  outputs: TensorMessage[];
  raw_output_contents: Buffer[];
}

export class GrpcInferenceClient implements InferenceClient {
  private readonly client: ServiceClient;

  /** `address` is host:port. */
  constructor(
    private readonly address: string,
    private readonly timeoutMs: number,
  ) {
    const Service = inferenceService();
    this.client = new Service(address, grpcJs().credentials.createInsecure(), {
      'grpc.max_receive_message_length': UNLIMITED,
      'grpc.max_send_message_length': UNLIMITED,
    }) as unknown as ServiceClient;
  }

  private call<T>(method: string, request: object): Promise<T> {
    return new Promise((resolve, reject) => {
      this.client[method].call(this.client, request, new (grpcJs().Metadata)(), { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(this.error(method, err));
        else resolve(res as T);
      });
    });
  }

  /**
   * grpc-js reports a failed connection as UNAVAILABLE, the same code a server sends when its queue
   * is full; only a channel that is not connected tells the two apart.
   */
  private error(method: string, err: grpc.ServiceError): MmkitError {
    const where = `grpc://${this.address} (${method})`;
    const connected = this.client.getChannel().getConnectivityState(false) === grpcJs().connectivityState.READY;
    if (err.code === grpcJs().status.DEADLINE_EXCEEDED || (err.code === grpcJs().status.UNAVAILABLE && !connected)) {
      return unreachable(where, err, this.timeoutMs);
    }
    return new MmkitError(codeOfGrpcStatus(err.code), err.details || err.message);
  }

  async live(): Promise<boolean> {
    return (await this.call<{ live: boolean }>('ServerLive', {})).live;
  }

  async ready(): Promise<boolean> {
    return (await this.call<{ ready: boolean }>('ServerReady', {})).ready;
  }

  serverMetadata(): Promise<ServerMetadata> {
    return this.call<ServerMetadata>('ServerMetadata', {});
  }

  async modelMetadata(name: string, version?: string): Promise<ModelMetadata> {
    const m = await this.call<Omit<ModelMetadata, 'inputs' | 'outputs'> & { inputs: MetadataTensorMessage[]; outputs: MetadataTensorMessage[] }>('ModelMetadata', {
      name,
      version: version ?? '',
    });
    return { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs.map(tensorMetadata), outputs: m.outputs.map(tensorMetadata) };
  }

  async modelReady(name: string, version?: string): Promise<boolean> {
    try {
      return (await this.call<{ ready: boolean }>('ModelReady', { name, version: version ?? '' })).ready;
    } catch (e) {
      // As over REST, where the spec's 4xx for an unknown model reads false.
      if (e instanceof MmkitError && e.code === 'UNKNOWN_MODEL') return false;
      throw e;
    }
  }

  async infer(name: string, inputs: Record<string, TensorData>, opts: InferOptions = {}): Promise<InferResult> {
    const { tensors, raw } = encodeInputs(inputs, opts.binary ?? true);
    const res = await this.call<InferResponseMessage>('ModelInfer', {
      model_name: name,
      model_version: opts.version ?? '',
      id: opts.id ?? '',
      inputs: tensors,
      outputs: (opts.outputs ?? []).map((n) => ({ name: n })),
      raw_input_contents: raw,
    });
    const where = `grpc://${this.address}`;
    const hasRaw = res.raw_output_contents.length > 0;
    if (hasRaw && res.raw_output_contents.length !== res.outputs.length) {
      throw badAnswer(where, `${res.raw_output_contents.length} raw_output_contents for ${res.outputs.length} outputs`);
    }
    const outputs: Record<string, TensorData> = {};
    res.outputs.forEach((o, i) => {
      outputs[o.name] = decodeTensor(o, hasRaw ? res.raw_output_contents[i] : undefined, (problem) => badAnswer(where, `output '${o.name}' ${problem}`));
    });
    return { modelName: res.model_name, modelVersion: res.model_version, ...(res.id ? { id: res.id } : {}), outputs };
  }

  close(): void {
    this.client.close();
  }
}
