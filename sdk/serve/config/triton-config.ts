/**
 * Triton's model configuration (config.pbtxt) in and out: read one into the fields mmkit honours
 * (saying which it ignores), derive one from an ONNX model, and format it as text Triton loads.
 */
import { MmkitError } from '../../errors';
import { type DType } from '../../onnx';
import { datatypeOf, dtypeOfDatatype, isDatatype } from '../datatypes';
import { validateServingConfig, type DynamicBatchingConfig, type InstanceKind, type ModelServingConfig } from '../model-config';
import { firstFixedAxis, isOpenDim, type ModelSignature, type TensorSignature } from './model-signature';
import { formatPbtxt, parsePbtxt, pbtxt, PbtxtReader, type PbtxtField } from './pbtxt';

/** The platform Triton loads ONNX models with, and the backend name that means the same. */
export const ONNX_PLATFORM = 'onnxruntime_onnx';
export const ONNX_BACKEND = 'onnxruntime';
/** The model file Triton's onnxruntime backend looks for in a version folder. */
export const DEFAULT_MODEL_FILENAME = 'model.onnx';
/** Triton's onnxruntime backend parameter for intra-op threads per instance. */
export const INTRA_OP_THREADS_PARAMETER = 'intra_op_thread_count';
/** The parameter key under which an exported config carries the model's mmkit recipe. */
export const RECIPE_PARAMETER = 'mmkit.recipe';

/** One input or output as the config declares it; dims -1 are open, and omit the batch axis when max_batch_size > 0. */
export interface TritonTensorConfig {
  name: string;
  dtype: DType;
  dims: number[];
}

/** Which versions Triton would serve; mmkit serves one: the latest of those. */
export type VersionPolicy = { kind: 'latest'; count: number } | { kind: 'all' } | { kind: 'specific'; versions: number[] };

export interface TritonModelConfig {
  /** Absent: the model's folder name. */
  name?: string;
  maxBatchSize: number;
  inputs: TritonTensorConfig[];
  outputs: TritonTensorConfig[];
  dynamicBatching?: DynamicBatchingConfig;
  instanceCount: number;
  instanceKind: InstanceKind;
  intraOpThreads: number;
  defaultModelFilename: string;
  versionPolicy: VersionPolicy;
  /** `parameters` as key → string_value (the recipe and intra_op_thread_count included). */
  parameters: Record<string, string>;
  /** What the file asks for that mmkit does not do, one sentence each. */
  notes: string[];
}

const MODEL_CONFIG_FIELDS = [
  'name', 'platform', 'backend', 'runtime', 'version_policy', 'max_batch_size', 'input', 'output', 'batch_input', 'batch_output',
  'optimization', 'dynamic_batching', 'sequence_batching', 'ensemble_scheduling', 'instance_group', 'default_model_filename',
  'cc_model_filenames', 'metric_tags', 'parameters', 'model_warmup', 'model_operations', 'model_transaction_policy',
  'model_repository_agents', 'response_cache', 'model_metrics',
] as const;
/** Fields that change what the model computes or how requests relate: serving without them would be wrong. */
const UNSUPPORTED_FIELDS = ['sequence_batching', 'ensemble_scheduling', 'batch_input', 'batch_output'];
const INPUT_FIELDS = ['name', 'data_type', 'format', 'dims', 'reshape', 'is_shape_tensor', 'allow_ragged_batch', 'optional', 'is_non_linear_format_io'];
const OUTPUT_FIELDS = ['name', 'data_type', 'dims', 'reshape', 'label_filename', 'is_shape_tensor', 'is_non_linear_format_io'];
const TRITON_DATA_TYPES = ['TYPE_INVALID', 'TYPE_BOOL', 'TYPE_UINT8', 'TYPE_UINT16', 'TYPE_UINT32', 'TYPE_UINT64', 'TYPE_INT8', 'TYPE_INT16', 'TYPE_INT32', 'TYPE_INT64', 'TYPE_FP16', 'TYPE_FP32', 'TYPE_FP64', 'TYPE_STRING', 'TYPE_BF16'] as const;
const INSTANCE_KINDS = ['KIND_AUTO', 'KIND_GPU', 'KIND_CPU', 'KIND_MODEL'] as const;

/** Triton's name for a dtype: TYPE_FP32 for float32. */
export function tritonDataType(dtype: DType, tensor?: string): string {
  return `TYPE_${datatypeOf(dtype, tensor)}`;
}

/** Reads config.pbtxt text; `file` names it in errors. Throws BAD_OPTION for bad fields, UNSUPPORTED for what mmkit cannot serve. */
export function readTritonConfig(text: string, file: string): TritonModelConfig {
  const root = new PbtxtReader(parsePbtxt(text, file), file);
  root.onlyKnown(MODEL_CONFIG_FIELDS, 'Triton\'s ModelConfig');
  const notes: string[] = [];
  for (const name of UNSUPPORTED_FIELDS) {
    if (root.has(name)) {
      throw new MmkitError('UNSUPPORTED', `${file}:${root.lineOf(name)}: ${name} is not something mmkit serves.`, {
        file,
        hint: 'mmkit serves single ONNX models with dynamic batching; serve this model with Triton itself.',
      });
    }
  }
  for (const name of root.names()) {
    if (!['name', 'platform', 'backend', 'version_policy', 'max_batch_size', 'input', 'output', 'dynamic_batching', 'instance_group', 'default_model_filename', 'parameters'].includes(name)) {
      notes.push(`${file}: mmkit ignores '${name}'.`);
    }
  }

  const platform = root.string('platform');
  const backend = root.string('backend');
  if ((platform !== undefined && platform !== ONNX_PLATFORM) || (backend !== undefined && backend !== ONNX_BACKEND)) {
    const [field, value] = platform !== undefined && platform !== ONNX_PLATFORM ? ['platform', platform] : ['backend', backend];
    throw new MmkitError('UNSUPPORTED', `${file}:${root.lineOf(field)}: ${field} '${value}' is not one mmkit serves.`, {
      file,
      hint: `mmkit serves ONNX models: platform: "${ONNX_PLATFORM}" (or backend: "${ONNX_BACKEND}").`,
    });
  }

  const maxBatchSize = root.int('max_batch_size') ?? 0;
  const parameters = readParameters(root);
  const threads = parameters[INTRA_OP_THREADS_PARAMETER];
  if (threads !== undefined && !/^\d+$/.test(threads)) {
    throw root.error('parameters', `'${INTRA_OP_THREADS_PARAMETER}' must be a whole number ≥ 0, got "${threads}"`, 'Write string_value: "2" (0: share the CPUs out).');
  }
  const instances = readInstanceGroups(root, notes);
  return {
    name: root.string('name'),
    maxBatchSize,
    inputs: root.messages('input').map((r) => readTensor(r, INPUT_FIELDS, 'ModelInput', notes)),
    outputs: root.messages('output').map((r) => readTensor(r, OUTPUT_FIELDS, 'ModelOutput', notes)),
    dynamicBatching: readDynamicBatching(root, notes),
    instanceCount: instances.count,
    instanceKind: instances.kind,
    intraOpThreads: threads === undefined ? 0 : Number(threads),
    defaultModelFilename: root.string('default_model_filename') || DEFAULT_MODEL_FILENAME,
    versionPolicy: readVersionPolicy(root, notes),
    parameters,
    notes,
  };
}

function readTensor(r: PbtxtReader, known: string[], what: string, notes: string[]): TritonTensorConfig {
  r.onlyKnown(known, `Triton's ${what}`);
  const name = r.string('name');
  if (!name) throw r.error('', 'has no name', 'Give each input and output `name: "…"` as the ONNX model names it.');
  const type = r.enumValue('data_type', TRITON_DATA_TYPES);
  if (!type) throw r.error('', `(${name}) has no data_type`, 'Add e.g. `data_type: TYPE_FP32`.');
  const datatype = type.slice('TYPE_'.length);
  if (!isDatatype(datatype)) {
    throw new MmkitError('UNSUPPORTED', `${r.file}:${r.lineOf('data_type')}: ${r.fieldPath('data_type')} ${type} (${name}) is not a type mmkit serves.`, {
      file: r.file,
      hint: 'mmkit serves numeric tensors: TYPE_BOOL, TYPE_(U)INT8…64, TYPE_FP16, TYPE_FP32, TYPE_FP64.',
    });
  }
  if (!r.has('dims')) throw r.error('', `(${name}) has no dims`, 'Add the shape without the batch axis, e.g. `dims: [ 3, 224, 224 ]` (-1 for an open axis).');
  const dims = r.ints('dims', -1);
  if (dims.includes(0)) throw r.error('dims', `(${name}) has a 0`, 'Sizes are ≥ 1, or -1 for an open axis.');
  for (const f of r.names()) {
    if (!['name', 'data_type', 'dims', 'format'].includes(f)) notes.push(`${r.file}: mmkit ignores ${r.fieldPath(f)} (${name}): tensors are served in the model's own shape.`);
  }
  return { name, dtype: dtypeOfDatatype(datatype), dims };
}

function readDynamicBatching(root: PbtxtReader, notes: string[]): DynamicBatchingConfig | undefined {
  const r = root.child('dynamic_batching');
  if (!r) return undefined;
  r.onlyKnown(['preferred_batch_size', 'max_queue_delay_microseconds', 'preserve_ordering', 'priority_levels', 'default_priority_level', 'default_queue_policy', 'priority_queue_policy'], "Triton's ModelDynamicBatching");
  for (const f of ['priority_levels', 'default_priority_level', 'priority_queue_policy']) {
    if (r.has(f)) notes.push(`${r.file}: mmkit ignores ${r.fieldPath(f)}: requests queue in arrival order.`);
  }
  const config: DynamicBatchingConfig = {
    maxQueueDelayMicroseconds: r.int('max_queue_delay_microseconds') ?? 0,
    preferredBatchSizes: r.ints('preferred_batch_size', 1),
    maxQueueSize: 0,
    queueTimeoutMicroseconds: 0,
  };
  const policy = r.child('default_queue_policy');
  if (policy) {
    policy.onlyKnown(['timeout_action', 'default_timeout_microseconds', 'allow_timeout_override', 'max_queue_size'], "Triton's ModelQueuePolicy");
    config.maxQueueSize = policy.int('max_queue_size') ?? 0;
    config.queueTimeoutMicroseconds = policy.int('default_timeout_microseconds') ?? 0;
    if (policy.enumValue('timeout_action', ['REJECT', 'DELAY']) === 'DELAY') {
      notes.push(`${r.file}: ${policy.fieldPath('timeout_action')} DELAY is served as REJECT: mmkit refuses a request that waited past the timeout.`);
    }
    if (policy.bool('allow_timeout_override')) notes.push(`${r.file}: mmkit ignores ${policy.fieldPath('allow_timeout_override')}: every request gets the default timeout.`);
  }
  return config;
}

function readInstanceGroups(root: PbtxtReader, notes: string[]): { count: number; kind: InstanceKind } {
  const groups = root.messages('instance_group');
  if (groups.length === 0) return { count: 1, kind: 'cpu' };
  let count = 0;
  const kinds = new Set<InstanceKind>();
  for (const g of groups) {
    g.onlyKnown(['name', 'kind', 'count', 'rate_limiter', 'gpus', 'secondary_devices', 'profile', 'passive', 'host_policy'], "Triton's ModelInstanceGroup");
    count += g.int('count', 1) ?? 1;
    const kind = g.enumValue('kind', INSTANCE_KINDS) ?? 'KIND_AUTO';
    if (kind === 'KIND_MODEL') throw g.error('kind', 'KIND_MODEL is not something mmkit serves', 'Use KIND_CPU or KIND_GPU.');
    // Triton's AUTO means a GPU where there is one: what mmkit's 'gpu' does, falling back to the CPU.
    kinds.add(kind === 'KIND_CPU' ? 'cpu' : 'gpu');
    for (const f of g.names()) if (!['name', 'kind', 'count'].includes(f)) notes.push(`${g.file}: mmkit ignores ${g.fieldPath(f)}.`);
  }
  if (kinds.size > 1) throw root.error('instance_group', 'mixes CPU and GPU groups', 'mmkit runs all instances of a model on one kind of device; use one kind.');
  return { count, kind: [...kinds][0] };
}

function readVersionPolicy(root: PbtxtReader, notes: string[]): VersionPolicy {
  const r = root.child('version_policy');
  if (!r) return { kind: 'latest', count: 1 };
  r.onlyKnown(['latest', 'all', 'specific'], "Triton's ModelVersionPolicy");
  if (r.names().length !== 1) throw r.error('', 'must hold exactly one of latest, all, specific', 'Write e.g. `version_policy: { latest: { num_versions: 1 } }`.');
  const latest = r.child('latest');
  if (latest) {
    const count = latest.int('num_versions', 1) ?? 1;
    if (count > 1) notes.push(`${r.file}: version_policy asks for the latest ${count} versions; mmkit serves the latest one.`);
    return { kind: 'latest', count };
  }
  const specific = r.child('specific');
  if (specific) {
    const versions = specific.ints('versions', 1);
    if (versions.length === 0) throw specific.error('versions', 'is empty', 'List the version folders to serve, e.g. `versions: [ 2 ]`.');
    if (versions.length > 1) notes.push(`${r.file}: version_policy lists versions ${versions.join(', ')}; mmkit serves the latest of them.`);
    return { kind: 'specific', versions };
  }
  r.child('all');
  notes.push(`${r.file}: version_policy asks for all versions; mmkit serves the latest one.`);
  return { kind: 'all' };
}

function readParameters(root: PbtxtReader): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of root.messages('parameters')) {
    p.onlyKnown(['key', 'value'], 'a parameters entry');
    const key = p.string('key');
    if (key === undefined) throw p.error('', 'has no key', 'Write `parameters { key: "name" value { string_value: "…" } }`.');
    const value = p.child('value');
    value?.onlyKnown(['string_value'], "Triton's ModelParameter");
    out[key] = value?.string('string_value') ?? '';
  }
  return out;
}

/**
 * The Triton configuration that serves `serving` for a model with signature `sig`: dims from the
 * model (the first axis folded into max_batch_size when serving batches), dynamic batching,
 * instances, and the model's recipe. Throws BAD_OPTION when max_batch_size > 0 but the model's
 * first axis is fixed, BAD_MODEL when the model does not declare a tensor's type or rank.
 */
export function tritonConfigFor(serving: ModelServingConfig, sig: ModelSignature): TritonModelConfig {
  validateServingConfig(serving);
  if (serving.maxBatchSize > 0) {
    const fixed = firstFixedAxis(sig);
    if (fixed) {
      throw new MmkitError('BAD_OPTION', `max_batch_size ${serving.maxBatchSize} needs a batch axis, but ${sig.file} fixes the first axis of '${fixed.name}' (shape [${fixed.shape?.join(', ') ?? '?'}]).`, {
        file: sig.file,
        hint: 'Use max batch size 0 (requests run as they come), or export the model with a symbolic batch axis.',
      });
    }
  }
  const tensor = (t: TensorSignature): TritonTensorConfig => {
    if (!t.dtype || !t.shape) {
      throw new MmkitError('BAD_MODEL', `${sig.file} does not declare the ${t.dtype ? 'shape' : 'element type'} of '${t.name}'; Triton's config needs both.`, {
        file: sig.file,
        tensor: t.name,
        hint: 'Run shape inference on the model (onnx.shape_inference) and save it again.',
      });
    }
    tritonDataType(t.dtype, t.name); // throws UNSUPPORTED for types mmkit cannot serve (string, bfloat16)
    const dims = t.shape.map((d) => (isOpenDim(d) ? -1 : (d as number)));
    return { name: t.name, dtype: t.dtype, dims: serving.maxBatchSize > 0 ? dims.slice(1) : dims };
  };
  const parameters: Record<string, string> = {};
  if (serving.intraOpThreads > 0) parameters[INTRA_OP_THREADS_PARAMETER] = String(serving.intraOpThreads);
  if (sig.recipe) parameters[RECIPE_PARAMETER] = sig.recipe;
  return {
    name: serving.name,
    maxBatchSize: serving.maxBatchSize,
    inputs: sig.inputs.map(tensor),
    outputs: sig.outputs.map(tensor),
    dynamicBatching: serving.dynamicBatching,
    instanceCount: serving.instanceCount,
    instanceKind: serving.instanceKind,
    intraOpThreads: serving.intraOpThreads,
    defaultModelFilename: DEFAULT_MODEL_FILENAME,
    versionPolicy: { kind: 'latest', count: 1 },
    parameters,
    notes: [],
  };
}

/** config.pbtxt text for a configuration (fields Triton defaults the same way are left out). */
export function formatTritonConfig(c: TritonModelConfig): string {
  const { field, message, string, number, identifier } = pbtxt;
  const fields: PbtxtField[] = [];
  if (c.name) fields.push(field('name', string(c.name)));
  fields.push(field('platform', string(ONNX_PLATFORM)), field('max_batch_size', number(c.maxBatchSize)));
  if (c.versionPolicy.kind !== 'latest' || c.versionPolicy.count !== 1) {
    const p = c.versionPolicy;
    const choice =
      p.kind === 'latest'
        ? field('latest', message([field('num_versions', number(p.count))]))
        : p.kind === 'all'
          ? field('all', message())
          : field('specific', message(p.versions.map((v) => field('versions', number(v)))));
    fields.push(field('version_policy', message([choice])));
  }
  const tensor = (t: TritonTensorConfig) =>
    message([field('name', string(t.name)), field('data_type', identifier(tritonDataType(t.dtype, t.name))), ...t.dims.map((d) => field('dims', number(d)))]);
  fields.push(...c.inputs.map((t) => field('input', tensor(t))), ...c.outputs.map((t) => field('output', tensor(t))));
  const b = c.dynamicBatching;
  if (b) {
    const policy = [
      ...(b.maxQueueSize ? [field('max_queue_size', number(b.maxQueueSize))] : []),
      ...(b.queueTimeoutMicroseconds ? [field('default_timeout_microseconds', number(Math.round(b.queueTimeoutMicroseconds))), field('timeout_action', identifier('REJECT'))] : []),
    ];
    fields.push(
      field(
        'dynamic_batching',
        message([
          ...b.preferredBatchSizes.map((s) => field('preferred_batch_size', number(s))),
          field('max_queue_delay_microseconds', number(Math.round(b.maxQueueDelayMicroseconds))),
          ...(policy.length ? [field('default_queue_policy', message(policy))] : []),
        ]),
      ),
    );
  }
  fields.push(field('instance_group', message([field('count', number(c.instanceCount)), field('kind', identifier(c.instanceKind === 'gpu' ? 'KIND_GPU' : 'KIND_CPU'))])));
  if (c.defaultModelFilename !== DEFAULT_MODEL_FILENAME) fields.push(field('default_model_filename', string(c.defaultModelFilename)));
  for (const [key, value] of Object.entries(c.parameters)) {
    fields.push(field('parameters', message([field('key', string(key)), field('value', message([field('string_value', string(value))]))])));
  }
  return formatPbtxt(message(fields));
}

/** The serving configuration of a model read from a repository: `name`, `version` and `modelPath` come from where it lies. */
export function servingConfigOf(c: TritonModelConfig, where: { name: string; version: string; modelPath: string }): ModelServingConfig {
  return validateServingConfig({
    name: where.name,
    version: where.version,
    modelPath: where.modelPath,
    maxBatchSize: c.maxBatchSize,
    ...(c.dynamicBatching ? { dynamicBatching: c.dynamicBatching } : {}),
    instanceCount: c.instanceCount,
    instanceKind: c.instanceKind,
    intraOpThreads: c.intraOpThreads,
  });
}
