import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { MmkitError } from '../errors';
import { readModel, type OnnxModel } from '../onnx';

/** The forms of `mm.load(src)`. */
export type SourceKind = 'file' | 'url' | 'hub';

export function sourceKind(uri: string): SourceKind {
  if (/^https?:\/\//i.test(uri)) return 'url';
  if (uri.startsWith('hf:')) return 'hub';
  return 'file';
}

/** Reads a model from a local path; a directory or a missing file gets a typed error. */
export async function loadFileSource(uri: string): Promise<OnnxModel> {
  const file = path.resolve(uri);
  const stat = await fsp.stat(file).catch(() => undefined);
  if (stat?.isDirectory()) {
    throw new MmkitError('FILE_NOT_FOUND', `${uri} is a directory, not an ONNX model file.`, { file: uri, hint: 'Pass the path of the .onnx file inside it.' });
  }
  return readModel(file);
}
