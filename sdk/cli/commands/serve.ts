/**
 * `mmkit serve`: an Open Inference Protocol server for one ONNX file or a Triton model
 * repository. Runs until SIGTERM or SIGINT, then drains (stops taking requests, answers those in
 * flight) and exits 0.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { MmkitError } from '../../errors';
import { readModelRepository } from '../../serve/config/repository';
import { DEFAULT_MAX_QUEUE_SIZE, type ModelServingConfig } from '../../serve/model-config';
import { DEFAULT_MAX_BATCH_SIZE, defaultInstanceCount, LARGE_MODEL_BYTES, singleModelConfig } from '../../serve/single-model';
import { DEFAULT_DRAIN_TIMEOUT_MS, startServer } from '../../serve/server';
import { action, note, type ExitCode, EXIT } from '../command';

interface ServeFlags {
  name?: string;
  modelRepository?: string;
  host: string;
  httpPort: number;
  grpcPort: number | 'none';
  maxBatchSize?: number;
  maxQueueDelayMs: number;
  preferredBatchSize?: number[];
  maxQueueSize: number;
  workers?: number;
  threads: number;
  kind: 'cpu' | 'gpu';
  maxBodyMb: number;
  drainTimeoutS: number;
}

const whole = (min: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected a whole number ≥ ${min}, got '${v}'`);
  return n;
};
const positive = (v: string): number => {
  const n = Number(v);
  if (!(n >= 0) || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number ≥ 0, got '${v}'`);
  return n;
};
const grpcPort = (v: string): number | 'none' => (v === 'none' ? v : whole(0)(v));
const sizes = (v: string): number[] => v.split(',').map((s) => whole(1)(s.trim()));

export function register(program: Command): void {
  program
    .command('serve')
    .argument('[model]', 'an ONNX file to serve (or use --model-repository)')
    .description('Serve models over the Open Inference Protocol (KServe v2): REST with binary tensors, gRPC, dynamic batching, /metrics.')
    .option('--name <name>', 'the model name in URLs (default: the file name without .onnx)')
    .option('--model-repository <dir>', "serve every model of a Triton model repository (DIR/<name>/config.pbtxt, DIR/<name>/<version>/model.onnx)")
    .option('--host <address>', 'interface to listen on', '0.0.0.0')
    .option('--http-port <port>', 'REST port (0: any free port)', whole(0), 8000)
    .option('--grpc-port <port>', "gRPC port (0: any free port; 'none': no gRPC)", grpcPort, 8001)
    .option('--max-batch-size <n>', `rows per batch (0: no batching; default ${DEFAULT_MAX_BATCH_SIZE} when every input has a free first axis, else 0)`, whole(0))
    .option('--max-queue-delay-ms <ms>', 'how long a request may wait for others to join its batch', positive, 0)
    .option('--preferred-batch-size <list>', 'batch sizes to send as soon as they form, e.g. 4,8', sizes)
    .option('--max-queue-size <n>', 'requests that may wait per model; one more gets 503', whole(1), DEFAULT_MAX_QUEUE_SIZE)
    .option('--workers <n>', `model instances (worker threads, one onnxruntime session each; default ${defaultInstanceCount(0)}, or 1 for a model of ${LARGE_MODEL_BYTES / 2 ** 20} MiB or more)`, whole(1))
    .option('--threads <n>', 'onnxruntime intra-op threads per instance (0: the CPUs shared out between instances)', whole(0), 0)
    .option('--kind <kind>', "where instances run: cpu, or gpu (CUDA; falls back to cpu with a notice)", (v) => {
      if (v !== 'cpu' && v !== 'gpu') throw new InvalidArgumentError("expected 'cpu' or 'gpu'");
      return v;
    }, 'cpu')
    .option('--max-body-mb <mb>', 'largest request body or gRPC message', positive, 64)
    .option('--drain-timeout-s <s>', 'on SIGTERM, how long to wait for requests in flight', positive, DEFAULT_DRAIN_TIMEOUT_MS / 1000)
    .addHelpText(
      'after',
      `
Examples:
  mmkit serve out/vit-int8.onnx --name vit --max-queue-delay-ms 2
  mmkit serve --model-repository models/ --http-port 8000 --grpc-port 8001
  curl localhost:8000/v2/health/ready
  curl -X POST localhost:8000/v2/models/vit/infer -d '{"inputs":[{"name":"pixel_values","shape":[1,1,28,28],"datatype":"FP32","data":[…]}]}'

Readiness (/v2/health/ready) turns 200 once every model is loaded and warmed up. Metrics: GET /metrics (Prometheus).`,
    )
    .action(action(async (model: string | undefined, flags: ServeFlags) => serve(model, flags)));
}

async function serve(model: string | undefined, flags: ServeFlags): Promise<ExitCode> {
  const configs = await servingConfigs(model, flags);
  const handle = await startServer({
    models: configs,
    host: flags.host,
    httpPort: flags.httpPort,
    grpcPort: flags.grpcPort === 'none' ? null : flags.grpcPort,
    maxBodyBytes: Math.round(flags.maxBodyMb * 1024 * 1024),
    drainTimeoutMs: flags.drainTimeoutS * 1000,
  });
  note(`mmkit serve: REST on ${handle.url}${handle.grpcAddress ? `, gRPC on ${handle.grpcAddress}` : ''}; loading ${handle.models.join(', ')}…`);
  const stopped = new Promise<ExitCode>((resolve) => {
    const stop = (signal: string): void => {
      note(`mmkit serve: ${signal}: draining (up to ${flags.drainTimeoutS} s)…`);
      handle.close().then((drained) => {
        note(drained ? 'mmkit serve: stopped; every request was answered.' : 'mmkit serve: stopped; the drain timed out with requests in flight.');
        resolve(EXIT.OK);
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  try {
    await handle.ready;
  } catch (e) {
    await handle.close();
    throw e;
  }
  for (const c of configs) {
    const batching = c.dynamicBatching ? `batches of ≤ ${c.maxBatchSize}, queue delay ${c.dynamicBatching.maxQueueDelayMicroseconds / 1000} ms` : 'no batching';
    note(`mmkit serve: model '${c.name}' version ${c.version} ready: ${c.instanceCount} × ${c.instanceKind} instance(s), ${batching}.`);
  }
  return stopped;
}

async function servingConfigs(model: string | undefined, flags: ServeFlags): Promise<ModelServingConfig[]> {
  if (flags.modelRepository) {
    if (model) throw new MmkitError('BAD_OPTION', `Give a model file or --model-repository, not both (got ${model} and ${flags.modelRepository}).`, { hint: 'Serve one file, or every model of a repository.' });
    return readModelRepository(flags.modelRepository, { notice: (m) => note(`mmkit serve: ${m}`) });
  }
  if (!model) throw new MmkitError('BAD_OPTION', 'Nothing to serve.', { hint: "Give an ONNX file (mmkit serve model.onnx) or --model-repository DIR." });
  return [
    await singleModelConfig(model, {
      name: flags.name,
      maxBatchSize: flags.maxBatchSize,
      maxQueueDelayMs: flags.maxQueueDelayMs,
      preferredBatchSizes: flags.preferredBatchSize,
      maxQueueSize: flags.maxQueueSize,
      instances: flags.workers,
      threads: flags.threads,
      kind: flags.kind,
    }),
  ];
}
