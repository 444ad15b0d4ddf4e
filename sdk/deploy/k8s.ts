/**
 * `mmkit export k8s`: mmkit serve replicas on Kubernetes — a Deployment, a Service in front of
 * them (HTTP and gRPC) and an autoscaling/v2 HorizontalPodAutoscaler on CPU.
 */
import * as path from 'node:path';
import { stringify } from 'yaml';
import { MmkitError } from '../errors';
import { checkKubernetesName, MODEL_REPOSITORY, RUN_AS_USER, scrapeAnnotations, serveContainer, TERMINATION_GRACE_SECONDS, GRPC_PORT, HTTP_PORT, type ContainerResources } from './container';
import { generatedHeader } from './files';

export interface KubernetesOptions extends ContainerResources {
  name: string;
  /** The image built from mmkit's Dockerfile. */
  image: string;
  namespace?: string;
  /** Replicas at rest (the autoscaler's minimum); default 2, so one can restart while the other serves. */
  replicas?: number;
  /** The autoscaler's maximum; default 4 × replicas. */
  maxReplicas?: number;
  /** Average CPU use across pods the autoscaler aims for, in % of the request; default 70. */
  targetCpuPercent?: number;
  /**
   * Where the model repository comes from. Unset: baked into the image at /models. `pvc://CLAIM[/SUBPATH]`:
   * mounted read-only from a PersistentVolumeClaim. Anything else (s3://, gs://, https://…):
   * downloaded into an emptyDir by KServe's storage-initializer image before the server starts.
   */
  storageUri?: string;
}

/** The storage initializer KServe itself uses to fetch `storageUri`s: `<uri> <dest>`. */
export const STORAGE_INITIALIZER_IMAGE = 'kserve/storage-initializer:v0.20.0';

export interface KubernetesManifests {
  deployment: Record<string, unknown>;
  service: Record<string, unknown>;
  hpa: Record<string, unknown>;
}

function whole(value: number, option: string, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new MmkitError('BAD_OPTION', `${option} must be a whole number ≥ ${min}, got ${value}.`, { hint: `Pass ${option} ${Math.max(min, 2)}, for example.` });
  return value;
}

export function kubernetesManifests(opts: KubernetesOptions): KubernetesManifests {
  const name = checkKubernetesName(opts.name);
  const replicas = whole(opts.replicas ?? 2, '--replicas', 1);
  const maxReplicas = whole(opts.maxReplicas ?? replicas * 4, '--max-replicas', replicas);
  const target = whole(opts.targetCpuPercent ?? 70, '--target-cpu-percent', 1);
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'inference-server', 'app.kubernetes.io/managed-by': 'mmkit' };
  const selector = { 'app.kubernetes.io/name': name };
  const metadata = { name, ...(opts.namespace ? { namespace: opts.namespace } : {}), labels };
  const storage = modelStorage(opts.storageUri);
  const container = serveContainer({ name: 'mmkit-serve', image: opts.image, resources: opts, modelRepository: MODEL_REPOSITORY, ports: 'http+grpc' });
  container.volumeMounts.push(...storage.mounts);

  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas,
      selector: { matchLabels: selector },
      // Never below the replicas at rest during a rollout: a new pod must be ready before an old one goes.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels, annotations: scrapeAnnotations() },
        spec: {
          terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
          automountServiceAccountToken: false,
          securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } },
          ...(storage.initContainers.length ? { initContainers: storage.initContainers } : {}),
          containers: [container],
          volumes: [{ name: 'tmp', emptyDir: {} }, ...storage.volumes],
        },
      },
    },
  };
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata,
    spec: {
      type: 'ClusterIP',
      selector,
      ports: [
        { name: 'http', port: HTTP_PORT, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
        // h2c tells meshes and gateways this is gRPC: they then balance per request, which
        // kube-proxy (per connection) does not.
        { name: 'grpc', port: GRPC_PORT, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' },
      ],
    },
  };
  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata,
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      minReplicas: replicas,
      maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } } }],
      // Scale up at once, down slowly: a new replica needs its model loaded before it helps.
      behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
    },
  };
  return { deployment, service, hpa };
}

function modelStorage(uri: string | undefined) {
  const none = { volumes: [] as object[], mounts: [] as Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>, initContainers: [] as object[] };
  if (!uri) return none;
  const pvc = /^pvc:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  if (pvc) {
    return {
      ...none,
      volumes: [{ name: 'models', persistentVolumeClaim: { claimName: pvc[1], readOnly: true } }],
      mounts: [{ name: 'models', mountPath: MODEL_REPOSITORY, readOnly: true, ...(pvc[2] ? { subPath: pvc[2] } : {}) }],
    };
  }
  if (!/^[a-z][a-z0-9+.-]*:\/\/./.test(uri)) {
    throw new MmkitError('BAD_OPTION', `--storage-uri '${uri}' is not a URI.`, { hint: 'Use pvc://CLAIM/PATH, s3://BUCKET/PATH, gs://BUCKET/PATH or https://…, pointing at the model repository folder.' });
  }
  return {
    volumes: [{ name: 'models', emptyDir: {} }],
    mounts: [{ name: 'models', mountPath: MODEL_REPOSITORY, readOnly: true }],
    initContainers: [
      {
        name: 'storage-initializer',
        image: STORAGE_INITIALIZER_IMAGE,
        args: [uri, MODEL_REPOSITORY],
        resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
        securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        volumeMounts: [{ name: 'models', mountPath: MODEL_REPOSITORY }],
      },
    ],
  };
}

/** A manifest as a YAML document, headed by the generated-file marker. */
export function manifestYaml(what: string, manifest: object): string {
  return generatedHeader(what) + stringify(manifest, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** The files `mmkit export k8s` writes into `out`: path → YAML text. */
export function kubernetesFiles(out: string, opts: KubernetesOptions): Record<string, string> {
  const m = kubernetesManifests(opts);
  return {
    [path.join(out, 'deployment.yaml')]: manifestYaml('k8s', m.deployment),
    [path.join(out, 'service.yaml')]: manifestYaml('k8s', m.service),
    [path.join(out, 'hpa.yaml')]: manifestYaml('k8s', m.hpa),
  };
}
