/**
 * `mmkit export kserve`: KServe InferenceServices (serving.kserve.io/v1beta1) in two forms —
 * the exported Triton model repository on KServe's Triton runtime, or mmkit's own image as a
 * custom predictor.
 */
import * as path from 'node:path';
import { MmkitError } from '../errors';
import { checkKubernetesName, RUN_AS_USER, scrapeAnnotations, serveContainer, TERMINATION_GRACE_SECONDS, type ContainerResources } from './container';
import { manifestYaml } from './k8s';

/** Where KServe's storage initializer puts what `storageUri` points at. */
export const KSERVE_MODEL_DIR = '/mnt/models';

export interface KServeOptions extends ContainerResources {
  name: string;
  namespace?: string;
  minReplicas?: number;
  maxReplicas?: number;
  /**
   * The model repository (the folder holding NAME/config.pbtxt, as `mmkit export triton --out`
   * writes it): s3://, gs://, pvc://, https://… Required for the Triton form; for mmkit's image,
   * unset means the repository baked into the image at /models.
   */
  storageUri?: string;
}

function common(opts: KServeOptions) {
  const name = checkKubernetesName(opts.name);
  const minReplicas = opts.minReplicas ?? 1;
  const maxReplicas = opts.maxReplicas ?? Math.max(minReplicas, 4);
  if (!Number.isInteger(minReplicas) || minReplicas < 0 || !Number.isInteger(maxReplicas) || maxReplicas < Math.max(1, minReplicas)) {
    throw new MmkitError('BAD_OPTION', `replicas: min ${minReplicas} and max ${maxReplicas} are not whole numbers with 0 ≤ min ≤ max, max ≥ 1.`, { hint: 'Pass e.g. --min-replicas 1 --max-replicas 4.' });
  }
  return { name, minReplicas, maxReplicas, metadata: { name, ...(opts.namespace ? { namespace: opts.namespace } : {}), labels: { 'app.kubernetes.io/managed-by': 'mmkit' } } };
}

/** The Triton form: KServe's kserve-tritonserver runtime serves the repository over the v2 protocol. */
export function kserveTritonService(opts: KServeOptions) {
  const { metadata, minReplicas, maxReplicas } = common(opts);
  if (!opts.storageUri) {
    throw new MmkitError('BAD_OPTION', 'The Triton InferenceService needs --storage-uri: where KServe fetches the model repository from.', {
      hint: 'Upload the folder `mmkit export triton --out DIR` wrote, and pass its URI (s3://…, gs://…, pvc://…).',
    });
  }
  const cpu = opts.cpu ?? '2';
  const memory = opts.memory ?? '2Gi';
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata,
    spec: {
      predictor: {
        minReplicas,
        maxReplicas,
        model: {
          // protocolVersion v2: KServe finds no runtime for ONNX models under the default v1.
          modelFormat: { name: 'onnx' },
          protocolVersion: 'v2',
          runtime: 'kserve-tritonserver',
          storageUri: opts.storageUri,
          resources: { requests: { cpu, memory }, limits: { cpu, memory } },
        },
      },
    },
  };
}

/**
 * The custom-predictor form: mmkit's image, with the probes, resources and securityContext of
 * the plain Deployment. One port only: Knative (KServe's default mode) routes to a single port,
 * so this exposes HTTP; gRPC needs its own InferenceService with the port named h2c.
 */
export function kserveMmkitService(opts: KServeOptions & { image: string }) {
  const { metadata, minReplicas, maxReplicas } = common(opts);
  // No preStop pause: Knative's queue-proxy in front of the container drains the pod itself (and Knative refuses lifecycle hooks).
  const { lifecycle: _, ...container } = serveContainer({
    name: 'kserve-container',
    image: opts.image,
    resources: opts,
    modelRepository: opts.storageUri ? KSERVE_MODEL_DIR : '/models',
    ports: 'http',
    // KServe injects its storage initializer for a predictor container that sets STORAGE_URI.
    extraEnv: opts.storageUri ? [{ name: 'STORAGE_URI', value: opts.storageUri }] : [],
  });
  return {
    apiVersion: 'serving.kserve.io/v1beta1',
    kind: 'InferenceService',
    metadata: { ...metadata, annotations: scrapeAnnotations() },
    spec: {
      predictor: {
        minReplicas,
        maxReplicas,
        terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
        securityContext: { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [container],
        volumes: [{ name: 'tmp', emptyDir: {} }],
      },
    },
  };
}

/** The files `mmkit export kserve` writes into `out`: the Triton form when there is a storage URI, the mmkit form when there is an image. */
export function kserveFiles(out: string, opts: KServeOptions & { image?: string }): Record<string, string> {
  if (!opts.storageUri && !opts.image) {
    throw new MmkitError('BAD_OPTION', 'mmkit export kserve needs --storage-uri (the Triton form), --image (mmkit\'s own server), or both.', {
      hint: 'Pass --storage-uri s3://bucket/models for Triton, --image registry/mmkit:TAG for mmkit serve.',
    });
  }
  const files: Record<string, string> = {};
  if (opts.storageUri) files[path.join(out, 'inferenceservice-triton.yaml')] = manifestYaml('kserve', kserveTritonService(opts));
  if (opts.image) files[path.join(out, 'inferenceservice-mmkit.yaml')] = manifestYaml('kserve', kserveMmkitService({ ...opts, image: opts.image }));
  return files;
}
