import * as fs from 'node:fs';
import * as path from 'node:path';
import { MmkitError, messageOf } from '../errors';
import { DataLocation, type TensorProto } from './proto';

/** Where a tensor's bytes live outside the .onnx file (ONNX's external_data key/value entries). */
export interface ExternalRef {
  location: string;
  offset: number;
  /** Undefined when the entry is absent: the data runs to the end of the file. */
  length?: number;
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === DataLocation.EXTERNAL;
}

export function externalRef(t: TensorProto): ExternalRef {
  const entries = new Map(t.externalData.map((e) => [e.key, e.value]));
  const location = entries.get('location');
  if (!location) {
    throw new MmkitError('EXTERNAL_DATA', `Tensor '${t.name}' is marked external but has no 'location' entry.`, {
      tensor: t.name,
      hint: 'The model file is damaged; re-export it, or save it again with onnx.save_model(..., save_as_external_data=True).',
    });
  }
  const offset = Number(entries.get('offset') ?? 0);
  const lengthText = entries.get('length');
  const length = lengthText === undefined ? undefined : Number(lengthText);
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new MmkitError('EXTERNAL_DATA', `Tensor '${t.name}' has an invalid external offset/length (${entries.get('offset')}/${lengthText}).`, {
      tensor: t.name,
      hint: 'Re-export the model; offsets and lengths must be non-negative integers.',
    });
  }
  return { location, offset, length };
}

/** The absolute path of an external data file; refuses locations that escape the model's directory. */
export function resolveExternalPath(baseDir: string, location: string, tensorName: string): string {
  const root = path.resolve(baseDir);
  const resolved = path.resolve(root, location);
  const rel = path.relative(root, resolved);
  if (path.isAbsolute(location) || rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new MmkitError('EXTERNAL_DATA', `Tensor '${tensorName}' points at external data '${location}', outside the model's folder ${root}.`, {
      tensor: tensorName,
      file: location,
      hint: 'External data must sit in the model folder or below it; move the data file there and fix the location.',
    });
  }
  return resolved;
}

/** Reads one external tensor's bytes into a fresh buffer (one fs read per tensor, no whole-file load). */
export function readExternalBytes(t: TensorProto, baseDir: string | undefined, expectedBytes?: number): Uint8Array {
  if (baseDir === undefined) {
    throw new MmkitError('EXTERNAL_DATA', `Tensor '${t.name}' keeps its data in an external file, but the model's folder is unknown.`, {
      tensor: t.name,
      hint: 'Load the model with readModel(path), or pass { baseDir } to parseModel, so external files can be found.',
    });
  }
  const ref = externalRef(t);
  const file = resolveExternalPath(baseDir, ref.location, t.name);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new MmkitError('EXTERNAL_DATA', `External data file ${file} for tensor '${t.name}' cannot be opened (${messageOf(e)}).`, {
      tensor: t.name,
      file,
      hint: 'Keep the data file next to the .onnx file under the name recorded in the model.',
      cause: e,
    });
  }
  try {
    const fileSize = fs.fstatSync(fd).size;
    const length = ref.length ?? expectedBytes ?? fileSize - ref.offset;
    if (ref.offset + length > fileSize) {
      throw new MmkitError('EXTERNAL_DATA', `External data file ${file} is too short for tensor '${t.name}': needs bytes ${ref.offset}..${ref.offset + length}, file has ${fileSize}.`, {
        tensor: t.name,
        file,
        hint: 'The data file is truncated or belongs to another model; copy it again with the .onnx file.',
      });
    }
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(fd, bytes, done, length - done, ref.offset + done);
      if (n === 0) break;
      done += n;
    }
    if (done < length) {
      throw new MmkitError('EXTERNAL_DATA', `External data file ${file} ended early while reading tensor '${t.name}'.`, { tensor: t.name, file });
    }
    return bytes;
  } finally {
    fs.closeSync(fd);
  }
}
