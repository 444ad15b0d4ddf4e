/**
 * The `mmkit serve` container as Kubernetes runs it: command, ports, probes, resources, thread
 * count and a locked-down securityContext. Shared by the plain Deployment (k8s.ts) and KServe's
 * custom predictor (kserve.ts), so both run the server the same way.
 */
import { MmkitError } from '../errors';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../serve/server';

export const HTTP_PORT = 8000;
export const GRPC_PORT = 8001;
/** Where the image keeps mmkit (the Dockerfile's WORKDIR) and where it looks for models. */
export const APP_DIR = '/app';
export const MODEL_REPOSITORY = '/models';
/** The non-root user of the image (node images' `node` user); numeric so runAsNonRoot can verify it. */
export const RUN_AS_USER = 1000;
/** Seconds the pod keeps serving after it is told to stop, so endpoints and balancers stop sending first. */
export const PRESTOP_SLEEP_SECONDS = 5;
/** Grace period: the pre-stop pause, the server's drain of requests in flight, and a margin to exit. */
export const TERMINATION_GRACE_SECONDS = PRESTOP_SLEEP_SECONDS + DEFAULT_DRAIN_TIMEOUT_MS / 1000 + 10;

export interface ContainerResources {
  /** CPU request and limit (Kubernetes quantity: "2", "1500m"); default "2". */
  cpu?: string;
  /** Memory request and limit ("2Gi"); default "2Gi". */
  memory?: string;
}

export function serveCommand(modelRepository: string): string[] {
  return ['node', 'dist/sdk/cli/main.js', 'serve', '--model-repository', modelRepository, '--http-port', String(HTTP_PORT), '--grpc-port', String(GRPC_PORT)];
}

/** Whole CPUs in a Kubernetes CPU quantity ("2", "1.5", "1500m"); at least 1. */
export function cpuThreads(cpu: string): number {
  const m = /^(\d+(?:\.\d+)?|\.\d+)(m?)$/.exec(cpu);
  if (!m || Number(m[1]) === 0) {
    throw new MmkitError('BAD_OPTION', `--cpu '${cpu}' is not a Kubernetes CPU quantity.`, { hint: 'Write whole or fractional cores ("2", "0.5") or millicores ("1500m").' });
  }
  const cores = Number(m[1]) / (m[2] ? 1000 : 1);
  return Math.max(1, Math.floor(cores));
}

export function checkMemory(memory: string): string {
  if (!/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$/.test(memory)) {
    throw new MmkitError('BAD_OPTION', `--memory '${memory}' is not a Kubernetes memory quantity.`, { hint: 'Write e.g. "2Gi" or "512Mi".' });
  }
  return memory;
}

/** A name Kubernetes accepts for objects and labels (RFC 1123 label). */
export function checkKubernetesName(name: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) {
    throw new MmkitError('BAD_OPTION', `--name '${name}' is not a valid Kubernetes name.`, { hint: 'Use lower-case letters, digits and -, starting and ending with a letter or digit, 63 characters at most.' });
  }
  return name;
}

/**
 * The container spec. The thread count follows the CPU limit: onnxruntime sizes its pool to the
 * node's cores otherwise, ignoring the limit, and the throttled threads slow every request.
 */
export function serveContainer(opts: { name: string; image: string; resources: ContainerResources; modelRepository: string; ports: 'http' | 'http+grpc'; extraEnv?: Array<{ name: string; value: string }> }) {
  const cpu = opts.resources.cpu ?? '2';
  const memory = checkMemory(opts.resources.memory ?? '2Gi');
  const threads = String(cpuThreads(cpu));
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({ httpGet: { path, port: HTTP_PORT }, periodSeconds, timeoutSeconds: 2, failureThreshold });
  return {
    name: opts.name,
    image: opts.image,
    workingDir: APP_DIR,
    command: serveCommand(opts.modelRepository),
    ports: [
      { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
      ...(opts.ports === 'http+grpc' ? [{ name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' }] : []),
    ],
    env: [
      // The CPUs mmkit serve shares out between its model instances, and OpenMP's pool: both follow the limit.
      { name: 'MMKIT_CPUS', value: threads },
      { name: 'OMP_NUM_THREADS', value: threads },
      ...(opts.extraEnv ?? []),
    ],
    resources: { requests: { cpu, memory }, limits: { cpu, memory } },
    // Up to 5 min to load and warm up the models before liveness counts.
    startupProbe: probe('/v2/health/ready', 5, 60),
    readinessProbe: probe('/v2/health/ready', 5, 3),
    livenessProbe: probe('/v2/health/live', 10, 3),
    lifecycle: { preStop: { sleep: { seconds: PRESTOP_SLEEP_SECONDS } } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: RUN_AS_USER,
      runAsGroup: RUN_AS_USER,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
}

/** Prometheus' conventional scrape annotations for the server's /metrics on the HTTP port. */
export function scrapeAnnotations(): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(HTTP_PORT), 'prometheus.io/path': '/metrics' };
}
