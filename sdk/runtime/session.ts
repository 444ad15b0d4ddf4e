import * as ort from 'onnxruntime-node';
import { asTensorData, type TensorData, type TensorInput } from '../tensor-data';
import { MmkitError, messageOf } from '../errors';
import { announceFallback, checkDevice, devicesToTry, markUnavailable, quietOrt, type ConcreteDevice, type Device } from './device';
import { checkFeeds, fromOrt, tensorInfo, toOrt, type TensorInfo } from './feeds';
import { modelKey, modelLabel, ortSource, type ModelSource } from './source';
import { suggestion } from './names';

export interface SessionOptions {
  /** Where to run; an unavailable device falls back to cpu with a one-line notice. Default 'cpu'. */
  device?: Device;
  /** Threads inside one operator (onnxruntime's intraOpNumThreads); default: onnxruntime's choice. */
  intraOpThreads?: number;
  /** Threads across independent operators (onnxruntime's interOpNumThreads). */
  interOpThreads?: number;
  /** Intermediate tensors to expose as extra outputs (see taps.ts). */
  taps?: string[];
  /** Share one onnxruntime session between equal requests (default true). */
  reuse?: boolean;
}

export interface RunOptions {
  /** Outputs (and taps) to compute and return; default all of them. */
  fetch?: string[];
}

interface Loaded {
  ort: ort.InferenceSession;
  device: ConcreteDevice;
}

/** One cached onnxruntime session and how many Session handles use it. */
interface Shared {
  loaded: Promise<Loaded>;
  refs: number;
  forget(): void;
}

const byObject = new WeakMap<object, Map<string, Shared>>();
const byPath = new Map<string, Map<string, Shared>>();

/** A loaded model, ready to run. Handles to one cached onnxruntime session are counted; dispose each. */
export class Session {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  readonly device: ConcreteDevice;
  private disposed = false;

  /** @internal Use createSession(). */
  constructor(
    private readonly loaded: Loaded,
    private readonly shared: Shared,
    /** How error messages name the model ("model.onnx", "the model"). */
    readonly label: string,
  ) {
    this.inputNames = loaded.ort.inputNames;
    this.outputNames = loaded.ort.outputNames;
    this.inputs = loaded.ort.inputMetadata.map(tensorInfo);
    this.outputs = loaded.ort.outputMetadata.map(tensorInfo);
    this.device = loaded.device;
  }

  /** Runs the model; feeds may be mmkit tensors or onnxruntime's own (`ort.Tensor`). */
  async run(given: Record<string, TensorInput>, opts: RunOptions = {}): Promise<Record<string, TensorData>> {
    if (this.disposed) throw new MmkitError('RUNTIME', `The session for ${this.label} was disposed.`, { hint: 'Create a new session with createSession().' });
    const feeds = Object.fromEntries(Object.entries(given).map(([name, t]) => [name, asTensorData(t, name)]));
    checkFeeds(feeds, this.inputs, this.label);
    const fetch = opts.fetch ? [...new Set(opts.fetch)] : this.outputNames;
    for (const name of fetch) {
      if (!this.outputNames.includes(name)) {
        throw new MmkitError('UNKNOWN_TENSOR', `${this.label} has no output '${name}'.`, {
          tensor: name,
          hint: `${suggestion(name, this.outputNames)} To fetch an intermediate tensor, list it in createSession(model, { taps: [...] }).`,
        });
      }
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = toOrt(t);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.loaded.ort.run(ortFeeds, [...fetch]);
    } catch (e) {
      const node = /Name:'([^']*)'/.exec(messageOf(e))?.[1];
      throw new MmkitError('RUNTIME', `onnxruntime failed to run ${this.label}${node ? ` at node '${node}'` : ''}: ${messageOf(e).trim()}`, {
        node,
        hint: node ? `Check the shapes and types reaching node '${node}'.` : 'Check the shapes and types of the feeds.',
        cause: e,
      });
    }
    const out: Record<string, TensorData> = {};
    for (const name of fetch) out[name] = fromOrt(name, results[name]);
    return out;
  }

  /** Releases this handle; the onnxruntime session goes when its last handle does. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (--this.shared.refs > 0) return;
    this.shared.forget();
    await this.loaded.ort.release();
  }
}

/**
 * Loads a model into onnxruntime. Equal requests (same model object or unchanged file, same
 * device, threads and taps) share one onnxruntime session, so pipeline stages that run the same
 * model do not pay for loading it twice.
 */
export async function createSession(model: ModelSource, opts: SessionOptions = {}): Promise<Session> {
  const device = checkDevice(opts.device);
  for (const key of ['intraOpThreads', 'interOpThreads'] as const) {
    const n = opts[key];
    if (n !== undefined && !(Number.isInteger(n) && n >= 0)) {
      throw new MmkitError('BAD_OPTION', `createSession: ${key} must be a whole number ≥ 0 (0 = onnxruntime's default), got ${n}.`);
    }
  }
  const taps = [...new Set(opts.taps ?? [])];
  const label = modelLabel(model);
  const load = (): Promise<Loaded> => loadSession(model, device, taps, opts, label);
  if (opts.reuse === false) {
    const loaded = await load();
    return new Session(loaded, { loaded: Promise.resolve(loaded), refs: 1, forget: () => {} }, label);
  }

  const { scope, cache } = cacheFor(model);
  const key = JSON.stringify([scope, device, opts.intraOpThreads ?? 0, opts.interOpThreads ?? 0, [...taps].sort()]);
  let shared = cache.get(key);
  if (!shared) {
    const entry: Shared = { loaded: load(), refs: 0, forget: () => cache.get(key) === entry && cache.delete(key) };
    cache.set(key, entry);
    shared = entry;
  }
  shared.refs++;
  try {
    return new Session(await shared.loaded, shared, label);
  } catch (e) {
    shared.refs--;
    shared.forget();
    throw e;
  }
}

function cacheFor(model: ModelSource): { scope: string; cache: Map<string, Shared> } {
  const key = modelKey(model);
  if (typeof key === 'string') {
    let cache = byPath.get(key);
    if (!cache) byPath.set(key, (cache = new Map()));
    return { scope: key, cache };
  }
  let cache = byObject.get(key);
  if (!cache) byObject.set(key, (cache = new Map()));
  return { scope: 'object', cache };
}

async function loadSession(model: ModelSource, device: Device, taps: string[], opts: SessionOptions, label: string): Promise<Loaded> {
  quietOrt();
  const source = await ortSource(model, taps);
  const failed: [ConcreteDevice, unknown][] = [];
  for (const d of await devicesToTry(device)) {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: [d],
      // Every failure reaches us as an exception, which we wrap; ort's own copy on stderr is noise.
      logSeverityLevel: 4,
      ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
      ...(opts.interOpThreads ? { interOpNumThreads: opts.interOpThreads } : {}),
      // Models loaded from bytes would look for external data in the current directory.
      ...(source.externalDataDir ? { extra: { session: { model_external_initializers_file_folder_path: source.externalDataDir } } } : {}),
    };
    try {
      // Two calls because create() is overloaded separately for paths and bytes.
      const session = typeof source.model === 'string' ? await ort.InferenceSession.create(source.model, options) : await ort.InferenceSession.create(source.model, options);
      // Only now is it clear the failures were the devices' fault and not the model's.
      for (const [f, cause] of failed) markUnavailable(f, cause);
      announceFallback(device, d);
      return { ort: session, device: d };
    } catch (e) {
      if (d === 'cpu') {
        throw new MmkitError('BAD_MODEL', `onnxruntime cannot load ${label}: ${messageOf(e).trim()}`, {
          file: typeof model === 'string' ? model : undefined,
          hint: 'The model is malformed or uses an operator or opset onnxruntime 1.30 does not support.',
          cause: e,
        });
      }
      failed.push([d, e]);
    }
  }
  // devicesToTry always ends with cpu, which either returns or throws above.
  throw new MmkitError('RUNTIME', `No device could run ${label}.`);
}
