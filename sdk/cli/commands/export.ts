/**
 * `mmkit export triton|k8s|kserve|haproxy`: the artefacts that take a model to production — a
 * Triton model repository, Kubernetes and KServe manifests, a balancer config for replicas.
 * Each writes atomically and refuses to replace files mmkit did not write (--overwrite to force).
 */
import * as path from 'node:path';
import { Option, type Command } from 'commander';
import { haproxyConfig, parseReplicas } from '../../deploy/haproxy';
import { kubernetesFiles } from '../../deploy/k8s';
import { kserveFiles } from '../../deploy/kserve';
import { writeGeneratedFiles } from '../../deploy/files';
import { exportTritonRepository } from '../../deploy/triton';
import { DEFAULT_TOWER_MAX_BATCH_SIZE, exportTritonTowers } from '../../deploy/triton-towers';
import { DEFAULT_MAX_BATCH_SIZE } from '../../serve/single-model';
import { action, emit, jsonOption } from '../command';
import { decimal, wholeNumber } from '../options';

interface Common {
  out: string;
  overwrite?: boolean;
  json?: boolean;
}

function sizes(text: string): number[] {
  return text.split(',').map((s) => wholeNumber(1)(s.trim()));
}

function reportFiles(flags: { json?: boolean }, what: string, files: string[], extra: object = {}): void {
  emit(flags, { files, ...extra }, () => `${what}:\n${files.map((f) => `  ${path.relative(process.cwd(), f) || f}`).join('\n')}`);
}

function withCommon(cmd: Command, outHelp: string): Command {
  return jsonOption(cmd.requiredOption('--out <dir>', outHelp).option('--overwrite', 'replace files there that mmkit did not write'));
}

function resourceOptions(cmd: Command): Command {
  return cmd
    .option('--cpu <quantity>', 'CPU request and limit per replica ("2", "1500m"); sets the server\'s thread count', '2')
    .option('--memory <quantity>', 'memory request and limit per replica', '2Gi')
    .option('--namespace <ns>', 'Kubernetes namespace of the objects');
}

export function register(program: Command): void {
  const exp = program.command('export').description('Write deployment artefacts: a Triton model repository, Kubernetes or KServe manifests, an haproxy config.');

  withCommon(
    exp
      .command('triton')
      .argument('<model>', 'the ONNX model to export')
      .description('Write a Triton model repository entry: OUT/NAME/config.pbtxt and OUT/NAME/1/model.onnx (a copy, external data beside it).')
      .requiredOption('--name <name>', 'model name (its folder and its name in request URLs)')
      .option('--split-towers', "a two-tower model (CLIP): write its image encoder, text encoder and joint head as three models (NAME-image-encoder, NAME-text-encoder, NAME-joint) and NAME as the Triton ensemble that chains them")
      .option('--max-batch-size <n>', `largest batch (0: no batching; default ${DEFAULT_MAX_BATCH_SIZE} when the model's first axis is symbolic, else 0; with --split-towers the towers' limit, default ${DEFAULT_TOWER_MAX_BATCH_SIZE})`, wholeNumber(0))
      .option('--instances <k>', 'model instances (instance_group count)', wholeNumber(1), 1)
      .addOption(new Option('--kind <kind>', 'where instances run').choices(['cpu', 'gpu']).default('cpu'))
      .option('--max-queue-delay-ms <ms>', 'how long a request may wait for others to join its batch', decimal, 0)
      .option('--preferred-batch-size <list>', 'batch sizes to run as soon as they form, e.g. 4,8', sizes),
    'the model repository folder',
  )
    .addHelpText(
      'after',
      '\nExamples:\n  mmkit export triton out/vit-int8.onnx --name vit --out models/ --max-queue-delay-ms 2\n  mmkit export triton datasets/models/clip-tiny-shapes.onnx --name clip --out models/ --split-towers\n  mmkit serve --model-repository models/   # or: tritonserver --model-repository models/',
    )
    .action(
      action(async (model: string, flags: Common & { name: string; splitTowers?: boolean; maxBatchSize?: number; instances: number; kind: 'cpu' | 'gpu'; maxQueueDelayMs: number; preferredBatchSize?: number[] }) => {
        const opts = {
          name: flags.name,
          out: flags.out,
          maxBatchSize: flags.maxBatchSize,
          instances: flags.instances,
          kind: flags.kind,
          maxQueueDelayMs: flags.maxQueueDelayMs,
          preferredBatchSizes: flags.preferredBatchSize,
          overwrite: flags.overwrite,
        };
        if (flags.splitTowers) {
          const { ensemble, parts, files } = await exportTritonTowers(model, opts);
          const steps = parts.map((p) => `${p.name} (max_batch_size ${p.serving.maxBatchSize})`).join(', ');
          reportFiles(flags, `Triton ensemble '${ensemble.name}' of ${steps}`, files, { ensemble: { name: ensemble.name, config: ensemble.config }, parts: parts.map((p) => ({ role: p.role, name: p.name, serving: p.serving })) });
          return;
        }
        const result = await exportTritonRepository(model, opts);
        reportFiles(flags, `Triton model '${flags.name}' (max_batch_size ${result.serving.maxBatchSize})`, result.files, { serving: result.serving });
      }),
    );

  resourceOptions(
    withCommon(
      exp
        .command('k8s')
        .description('Write a Deployment, a Service and a HorizontalPodAutoscaler (autoscaling/v2) for mmkit serve replicas.')
        .requiredOption('--name <name>', 'name of the Deployment, Service and autoscaler')
        .requiredOption('--image <image>', 'the image built from mmkit\'s Dockerfile')
        .option('--replicas <n>', 'replicas at rest (the autoscaler\'s minimum)', wholeNumber(1), 2)
        .option('--max-replicas <n>', 'the autoscaler\'s maximum (default 4 × replicas)', wholeNumber(1))
        .option('--target-cpu-percent <p>', 'average CPU use the autoscaler aims for', wholeNumber(1), 70)
        .option('--storage-uri <uri>', 'the model repository: pvc://CLAIM/PATH (mounted), s3://, gs://, https:// (downloaded at start); default: baked into the image'),
      'the folder for deployment.yaml, service.yaml, hpa.yaml',
    ),
  ).action(
    action(async (flags: Common & { name: string; image: string; replicas: number; maxReplicas?: number; targetCpuPercent: number; storageUri?: string; cpu: string; memory: string; namespace?: string }) => {
      const files = kubernetesFiles(flags.out, { ...flags, targetCpuPercent: flags.targetCpuPercent });
      reportFiles(flags, `Kubernetes manifests for '${flags.name}'`, await writeGeneratedFiles(files, flags.overwrite));
    }),
  );

  resourceOptions(
    withCommon(
      exp
        .command('kserve')
        .description('Write KServe InferenceServices: the model repository on Triton (--storage-uri), and/or mmkit\'s own image as a custom predictor (--image).')
        .requiredOption('--name <name>', 'name of the InferenceService')
        .option('--storage-uri <uri>', 'where KServe fetches the model repository (the --out folder of `mmkit export triton`) from')
        .option('--image <image>', 'mmkit\'s image, for the custom-predictor form')
        .option('--min-replicas <n>', 'fewest replicas (0: scale to zero)', wholeNumber(0), 1)
        .option('--max-replicas <n>', 'most replicas', wholeNumber(1)),
      'the folder for inferenceservice-*.yaml',
    ),
  ).action(
    action(async (flags: Common & { name: string; storageUri?: string; image?: string; minReplicas: number; maxReplicas?: number; cpu: string; memory: string; namespace?: string }) => {
      reportFiles(flags, `KServe InferenceServices for '${flags.name}'`, await writeGeneratedFiles(kserveFiles(flags.out, flags), flags.overwrite));
    }),
  );

  jsonOption(
    exp
      .command('haproxy')
      .description('Write an haproxy.cfg balancing mmkit serve replicas: health checks on /v2/health/ready, failed requests retried on another replica.')
      .requiredOption('--replicas <list>', 'the replicas: host:port[:grpcPort],…')
      .requiredOption('--port <port>', 'port clients send HTTP requests to', wholeNumber(1))
      .option('--grpc-port <port>', 'port for gRPC clients (each replica needs its :grpcPort)', wholeNumber(1))
      .option('--bind <address>', 'address to listen on (default: all)')
      .option('--stats-port <port>', 'port for haproxy\'s stats page (/stats)', wholeNumber(1))
      .addOption(new Option('--balance <algorithm>', 'how replicas are picked').choices(['roundrobin', 'leastconn']).default('roundrobin'))
      .requiredOption('--out <file>', 'the haproxy.cfg to write')
      .option('--overwrite', 'replace the file if mmkit did not write it'),
  )
    .addHelpText('after', '\nExample:\n  mmkit export haproxy --replicas 10.0.0.5:8000:8001,10.0.0.6:8000:8001 --port 80 --grpc-port 81 --out haproxy.cfg\n  haproxy -c -f haproxy.cfg && haproxy -f haproxy.cfg')
    .action(
      action(async (flags: { replicas: string; port: number; grpcPort?: number; bind?: string; statsPort?: number; balance: 'roundrobin' | 'leastconn'; out: string; overwrite?: boolean; json?: boolean }) => {
        const text = haproxyConfig({ replicas: parseReplicas(flags.replicas), listenPort: flags.port, grpcListenPort: flags.grpcPort, bindAddress: flags.bind, statsPort: flags.statsPort, balance: flags.balance });
        reportFiles(flags, 'haproxy config', await writeGeneratedFiles({ [flags.out]: text }, flags.overwrite));
      }),
    );
}
