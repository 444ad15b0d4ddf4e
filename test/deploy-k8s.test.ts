/**
 * Kubernetes and KServe manifests checked against the real schemas: Deployment, Service and
 * HorizontalPodAutoscaler with kubernetes-models (the Kubernetes OpenAPI schema), both KServe
 * InferenceService forms with KServe's own CRD schema (test/schemas/kserve) under ajv, every
 * written file with Debian's yamllint; then the properties a platform engineer relies on.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRPC_PORT, HTTP_PORT, TERMINATION_GRACE_SECONDS } from '../sdk/deploy/container';
import { kubernetesFiles, kubernetesManifests } from '../sdk/deploy/k8s';
import { kserveFiles, kserveMmkitService, kserveTritonService } from '../sdk/deploy/kserve';
import { isMmkitError } from '../sdk/errors';
import { DEFAULT_DRAIN_TIMEOUT_MS } from '../sdk/serve/server';
import { expectUsageError, mmkit } from './helpers/cli-run';
import { runProcess } from './helpers/run-process';

const YAMLLINT_CONFIG = '{extends: default, rules: {line-length: disable, document-start: disable}}';
const KSERVE_SCHEMA = 'test/schemas/kserve/inferenceservice-v1beta1.schema.json';

let tmp: string;

/** Fails with yamllint's findings when any file has an error or a warning (asynchronous: python starts slowly under load). */
async function yamllint(files: string[]): Promise<void> {
  const r = await runProcess('yamllint', ['--strict', '-f', 'parsable', '-d', YAMLLINT_CONFIG, ...files], { cwd: process.cwd(), timeoutMs: 60_000 });
  expect(r.status, `yamllint:\n${r.stdout}${r.stderr}`).toBe(0);
}

/** KServe's CRD schema: what the API server checks an InferenceService against. */
function kserveValidator() {
  const ajv = new Ajv({ strict: false, allErrors: true });
  // Kubernetes' OpenAPI formats: checked by the API server, opaque to JSON Schema.
  for (const f of ['int32', 'int64', 'double', 'byte', 'date-time', 'quantity']) ajv.addFormat(f, true);
  return ajv.compile(JSON.parse(fs.readFileSync(KSERVE_SCHEMA, 'utf8')));
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-deploy-k8s-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('Kubernetes manifests', () => {
  it('validate against the Kubernetes schema and pass yamllint, as `mmkit export k8s` writes them', async () => {
    const out = path.join(tmp, 'k8s');
    const run = await mmkit(['export', 'k8s', '--name', 'vit', '--image', 'registry.example/mmkit:0.1.0', '--out', out, '--replicas', '3', '--cpu', '1500m', '--memory', '3Gi', '--storage-uri', 's3://bucket/models', '--json']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const files: string[] = JSON.parse(run.stdout).files;
    expect(files.map((f) => path.basename(f))).toEqual(['deployment.yaml', 'service.yaml', 'hpa.yaml']);
    await yamllint(files);
    const [deployment, service, hpa] = files.map((f) => {
      const docs = parseAllDocuments(fs.readFileSync(f, 'utf8'));
      expect(docs).toHaveLength(1);
      return docs[0].toJS();
    });
    new Deployment(deployment).validate();
    new Service(service).validate();
    new HorizontalPodAutoscaler(hpa).validate();

    const pod = deployment.spec.template.spec;
    const c = pod.containers[0];
    expect(c.command).toEqual(['node', 'dist/sdk/cli/main.js', 'serve', '--model-repository', '/models', '--http-port', '8000', '--grpc-port', '8001']);
    expect(c.ports.map((p: any) => p.containerPort)).toEqual([HTTP_PORT, GRPC_PORT]);
    expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path, c.startupProbe.httpGet.path]).toEqual(['/v2/health/ready', '/v2/health/live', '/v2/health/ready']);
    // The startup probe allows minutes to load the model; liveness only counts after it.
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(300);
    expect(c.resources).toEqual({ requests: { cpu: '1500m', memory: '3Gi' }, limits: { cpu: '1500m', memory: '3Gi' } });
    // 1.5 CPUs: one whole thread, not the node's core count.
    expect(c.env).toEqual(expect.arrayContaining([{ name: 'MMKIT_CPUS', value: '1' }, { name: 'OMP_NUM_THREADS', value: '1' }]));
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(pod.terminationGracePeriodSeconds).toBe(TERMINATION_GRACE_SECONDS);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(DEFAULT_DRAIN_TIMEOUT_MS / 1000 + c.lifecycle.preStop.sleep.seconds);
    expect(deployment.spec.template.metadata.annotations).toEqual({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8000', 'prometheus.io/path': '/metrics' });
    // The repository is fetched into a shared volume before the server starts.
    expect(pod.initContainers[0].args).toEqual(['s3://bucket/models', '/models']);
    expect(c.volumeMounts).toEqual(expect.arrayContaining([{ name: 'models', mountPath: '/models', readOnly: true }]));

    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports.map((p: any) => [p.port, p.targetPort])).toEqual([
      [8000, 'http'],
      [8001, 'grpc'],
    ]);
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec).toMatchObject({ scaleTargetRef: { kind: 'Deployment', name: 'vit' }, minReplicas: 3, maxReplicas: 12 });
  });

  it('mounts a PersistentVolumeClaim read-only, or uses the models baked into the image', () => {
    const pvc = kubernetesManifests({ name: 'vit', image: 'mmkit', storageUri: 'pvc://models-claim/repo' });
    new Deployment(pvc.deployment as any).validate();
    const spec = (pvc.deployment as any).spec.template.spec;
    expect(spec.volumes).toContainEqual({ name: 'models', persistentVolumeClaim: { claimName: 'models-claim', readOnly: true } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: 'models', mountPath: '/models', readOnly: true, subPath: 'repo' });
    const baked = kubernetesManifests({ name: 'vit', image: 'mmkit' });
    new Deployment(baked.deployment as any).validate();
    expect((baked.deployment as any).spec.template.spec.volumes).toEqual([{ name: 'tmp', emptyDir: {} }]);
  });

  it('refuses bad names and quantities with exit 2 and a one-line error, writing nothing', async () => {
    const out = path.join(tmp, 'bad');
    for (const [args, pattern] of [
      [['--name', 'My_Model', '--image', 'x'], /BAD_OPTION: --name 'My_Model' is not a valid Kubernetes name/],
      [['--name', 'vit', '--image', 'x', '--cpu', 'two'], /BAD_OPTION: --cpu 'two' is not a Kubernetes CPU quantity/],
      [['--name', 'vit', '--image', 'x', '--memory', '2GB'], /BAD_OPTION: --memory '2GB'/],
    ] as const) {
      const run = await mmkit(['export', 'k8s', ...args, '--out', out]);
      expectUsageError(run, 'export k8s', 'BAD_OPTION');
      expect(run.stderr).toMatch(pattern);
    }
    expect(fs.existsSync(out)).toBe(false);
  });
});

describe('KServe InferenceServices', () => {
  it('validate against KServe\'s CRD schema and pass yamllint, in both forms', async () => {
    const validate = kserveValidator();
    // The schema is not vacuous: it refuses a wrong type where the forms put their values.
    expect(validate({ apiVersion: 'serving.kserve.io/v1beta1', kind: 'InferenceService', spec: { predictor: { minReplicas: 'one' } } })).toBe(false);

    const out = path.join(tmp, 'kserve');
    const files = Object.entries(kserveFiles(out, { name: 'vit', storageUri: 's3://bucket/models', image: 'registry.example/mmkit:0.1.0', cpu: '2', memory: '2Gi' }));
    for (const [file, text] of files) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
    }
    await yamllint(files.map(([f]) => f));
    const [triton, mmkit] = files.map(([, text]) => parse(text));
    for (const isvc of [triton, mmkit]) {
      const ok = validate(isvc);
      expect(validate.errors ?? []).toEqual([]);
      expect(ok).toBe(true);
      expect([isvc.apiVersion, isvc.kind]).toEqual(['serving.kserve.io/v1beta1', 'InferenceService']);
    }
    expect(triton.spec.predictor.model).toMatchObject({ modelFormat: { name: 'onnx' }, protocolVersion: 'v2', runtime: 'kserve-tritonserver', storageUri: 's3://bucket/models' });

    const c = mmkit.spec.predictor.containers[0];
    expect(c.command).toEqual(['node', 'dist/sdk/cli/main.js', 'serve', '--model-repository', '/mnt/models', '--http-port', '8000', '--grpc-port', '8001']);
    expect(c.env).toContainEqual({ name: 'STORAGE_URI', value: 's3://bucket/models' });
    expect([c.readinessProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual(['/v2/health/ready', '/v2/health/live']);
    expect(c.ports).toEqual([{ name: 'http', containerPort: 8000, protocol: 'TCP' }]);
    expect(c.securityContext.runAsNonRoot).toBe(true);
    expect(mmkit.spec.predictor.terminationGracePeriodSeconds).toBeGreaterThan(DEFAULT_DRAIN_TIMEOUT_MS / 1000);
  });

  it('the Triton form needs a storage URI; the mmkit form without one serves the baked-in models', () => {
    const e = (() => {
      try {
        kserveTritonService({ name: 'vit' });
      } catch (x) {
        return x;
      }
    })();
    expect(isMmkitError(e, 'BAD_OPTION')).toBe(true);
    const isvc = kserveMmkitService({ name: 'vit', image: 'mmkit' });
    expect(kserveValidator()(isvc)).toBe(true);
    expect(isvc.spec.predictor.containers[0].command).toContain('/models');
  });
});

describe('generated files', () => {
  it('are replaced by a later export, but a file mmkit did not write is not', async () => {
    const out = path.join(tmp, 'again');
    expect((await mmkit(['export', 'k8s', '--name', 'vit', '--image', 'x', '--out', out])).status).toBe(0);
    expect((await mmkit(['export', 'k8s', '--name', 'vit', '--image', 'y', '--out', out])).status).toBe(0);
    expect(parse(fs.readFileSync(path.join(out, 'deployment.yaml'), 'utf8')).spec.template.spec.containers[0].image).toBe('y');
    fs.writeFileSync(path.join(out, 'service.yaml'), 'kind: Service\n');
    const run = await mmkit(['export', 'k8s', '--name', 'vit', '--image', 'z', '--out', out]);
    expectUsageError(run, 'export k8s', 'FILE_EXISTS');
    expect(run.stderr).toMatch(/Refusing to overwrite .*service\.yaml/);
    expect(parse(fs.readFileSync(path.join(out, 'deployment.yaml'), 'utf8')).spec.template.spec.containers[0].image).toBe('y');
    expect((await mmkit(['export', 'k8s', '--name', 'vit', '--image', 'z', '--out', out, '--overwrite'])).status).toBe(0);
    expect(kubernetesFiles(out, { name: 'vit', image: 'z' })[path.join(out, 'service.yaml')]).toBe(fs.readFileSync(path.join(out, 'service.yaml'), 'utf8'));
  });
});
