import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { MmkitError, messageOf } from '../errors';
import { allInitializers, isExternal, parseModel, readModel, serializeModel, type ModelProto, type OnnxModel } from '../onnx';
import { withTaps } from './taps';

/** Anything a session can be made from: a loaded model, a bare proto, serialized bytes or a file path. */
export type ModelSource = OnnxModel | ModelProto | Uint8Array | string;

function isOnnxModel(m: ModelSource): m is OnnxModel {
  return typeof m === 'object' && !(m instanceof Uint8Array) && 'proto' in m;
}

/** How messages name the model. */
export function modelLabel(m: ModelSource): string {
  if (typeof m === 'string') return m;
  if (isOnnxModel(m) && m.path) return m.path;
  return 'the model';
}

/**
 * What identifies a model for session reuse: the proto or byte array object (models are
 * immutable: passes return new protos), or a file's absolute path with its size and mtime.
 */
export function modelKey(m: ModelSource): object | string {
  if (typeof m === 'string') {
    const path = resolve(m);
    try {
      const st = statSync(path);
      return `${path}|${st.size}|${st.mtimeMs}`;
    } catch (e) {
      throw new MmkitError('FILE_NOT_FOUND', `Cannot read model file ${m}: ${messageOf(e)}`, { file: m, hint: 'Check the path (relative paths start at the current directory).', cause: e });
    }
  }
  return isOnnxModel(m) ? m.proto : m;
}

export interface OrtSource {
  /** A path (onnxruntime then finds external data next to the file) or the serialized model. */
  model: string | Uint8Array;
  /** Where external data files live when loading from bytes. */
  externalDataDir?: string;
}

/** What onnxruntime loads for a model, with taps added as outputs. */
export async function ortSource(m: ModelSource, taps: readonly string[]): Promise<OrtSource> {
  if (taps.length === 0 && (typeof m === 'string' || m instanceof Uint8Array)) return { model: m };
  const loaded = typeof m === 'string' ? await readModel(m) : m instanceof Uint8Array ? parseModel(m) : isOnnxModel(m) ? m : { proto: m };
  const proto = taps.length ? withTaps(loaded.proto, taps) : loaded.proto;
  if (!loaded.baseDir && proto.graph) {
    const external = [...allInitializers(proto.graph)].find(isExternal);
    if (external) {
      throw new MmkitError('EXTERNAL_DATA', `Tensor '${external.name}' keeps its data in an external file, but the model's folder is unknown.`, {
        tensor: external.name,
        hint: 'Load the model with readModel(path) (or pass its path), so onnxruntime can find the data file.',
      });
    }
  }
  return { model: serializeModel(proto), externalDataDir: loaded.baseDir };
}
